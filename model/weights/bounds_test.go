package weights

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

// TestLoaderBoundsItsError: a config asking for far more tensors than the
// file holds (a hostile num_layers) costs a bounded error that still
// counts every miss and problem.
func TestLoaderBoundsItsError(t *testing.T) {
	f, err := OpenBytes("mem", encode(t, sampleTensors(t)))
	if err != nil {
		t.Fatal(err)
	}
	l := NewLoader(f, "tiny")
	const n = 100_000
	for i := range n {
		l.Get(fmt.Sprintf("blocks.%d.w", i))
		l.Get("w", 1, i+1) // a shape problem each time
	}
	if len(l.missing) > maxListed || len(l.problems) > maxListed {
		t.Fatalf("kept %d missing and %d problems (at most %d each)", len(l.missing), len(l.problems), maxListed)
	}
	err = l.Err()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"100000 missing tensors: blocks.0.w, ", fmt.Sprintf(", and %d more", n-maxListed),
		"w has shape [3 4], want [1 1]", fmt.Sprintf("; and %d more", n-maxListed)} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if len(msg) > 16<<10 {
		t.Errorf("error is %d bytes", len(msg))
	}
}

// TestReadConfigSize: a config file past MaxConfigBytes is refused before
// it is decoded, naming it and its size.
func TestReadConfigSize(t *testing.T) {
	big := []byte(`{"x": "` + strings.Repeat("a", MaxConfigBytes) + `"}`)
	var v map[string]any
	err := ReadConfig(fstest.MapFS{"config.json": {Data: big}}, "config.json", &v)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("config.json is %d bytes", len(big))) {
		t.Fatalf("err = %v", err)
	}
	if err := ReadConfig(fstest.MapFS{"config.json": {Data: []byte(`{"x": 1}`)}}, "config.json", &v); err != nil || v["x"] != 1.0 {
		t.Fatalf("small config: %v %v", v, err)
	}
}
