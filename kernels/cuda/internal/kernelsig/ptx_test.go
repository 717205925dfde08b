package main

import (
	"path/filepath"
	"slices"
	"testing"
)

func TestParsePTX(t *testing.T) {
	src := `
.visible .entry k(
	.param .u64 k_param_0,
	.param .u32 k_param_1,
	.param .f32 k_param_2,
	.param .b64 k_param_3
)
{
	ld.param.u64 %rd1, [k_param_0];
}
.visible .entry empty()
{
}
`
	got, err := parsePTX(src)
	if err != nil {
		t.Fatal(err)
	}
	if want := []kind{kind8, kindInt4, kindFloat4, kind8}; !slices.Equal(got["k"], want) {
		t.Errorf("k: %v, want %v", got["k"], want)
	}
	if ps, ok := got["empty"]; !ok || len(ps) != 0 {
		t.Errorf("empty: %v %v", ps, ok)
	}
	if _, err := parsePTX(".visible .entry bad(\n\t.param .f64 x\n)"); err == nil {
		t.Error("an unhandled parameter type was accepted")
	}
}

// TestCommittedPTXParses: every committed module parses and has entries.
func TestCommittedPTXParses(t *testing.T) {
	files, err := filepath.Glob("../../ptx/*.ptx")
	if err != nil || len(files) == 0 {
		t.Fatalf("no PTX found: %v", err)
	}
	for _, f := range files {
		run := func() (int, error) {
			es, err := parseFile(f)
			return len(es), err
		}
		if n, err := run(); err != nil || n == 0 {
			t.Errorf("%s: %d entries, %v", f, n, err)
		}
	}
}
