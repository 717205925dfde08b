package torchbench

import (
	"errors"
	"testing"
)

func TestMedianAndTimeRuns(t *testing.T) {
	v := []float64{3, 1, 2}
	if Median(v) != 2 || v[0] != 3 {
		t.Errorf("Median = %v (input %v must stay unsorted)", Median(v), v)
	}
	n := 0
	if _, err := TimeRuns(4, func() error { n++; return nil }); err != nil || n != 4 {
		t.Errorf("TimeRuns ran %d times, err %v", n, err)
	}
	boom := errors.New("boom")
	if _, err := TimeRuns(3, func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("TimeRuns error %v", err)
	}
}

// TestProtocol drives the line protocol against a shell stand-in for the
// Python script, so the harness is tested without torch.
func TestProtocol(t *testing.T) {
	script := `echo "ready 9.9 x"; while read cmd k; do echo 0.25; done`
	p, err := Start("/bin/sh", "stand-in", script, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Version != "9.9" {
		t.Errorf("version %q", p.Version)
	}
	mo, mt, err := Compare(3, 2, func(int) (float64, error) { return 0.5, nil }, p)
	if err != nil || mo != 0.5 || mt != 0.25 {
		t.Errorf("Compare = %v, %v, %v", mo, mt, err)
	}
	if _, err := Start("/bin/sh", "silent", "exit 0", 1); err == nil {
		t.Error("a script that never says ready was accepted")
	}
}
