package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGeneratePAG: --pag-scale/--pag-layers reach the pipeline and the
// PNG's parameters; a block the model lacks is an error naming it.
func TestGeneratePAG(t *testing.T) {
	t.Setenv("SANAFARM_CACHE", t.TempDir())
	out := filepath.Join(t.TempDir(), "pag.png")
	var stdout, stderr bytes.Buffer
	args := []string{"generate", "--model", "sana-tiny", "-p", "a red fox", "--steps", "2", "--width", "128", "--height", "128",
		"--pag-scale", "2.5", "--pag-adaptive-scale", "0.001", "--pag-layers", "0,1", "-q", "--dest", out}
	meta, params := generateMeta(t, args, out)
	if meta.PAGScale != 2.5 || meta.PAGAdaptiveScale != float64(float32(0.001)) || !slices.Equal(meta.PAGBlocks, []int{0, 1}) {
		t.Errorf("parameters %s: want pag_scale 2.5, adaptive 0.001, blocks [0 1]", params)
	}
	stderr.Reset()
	args = []string{"generate", "--model", "sana-tiny", "-p", "x", "--steps", "1", "--pag-scale", "1", "--pag-layers", "99", "-q", "--dest", out}
	if code := run(context.Background(), args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "PAG block 99") {
		t.Errorf("exit %d, stderr %q: want an error naming PAG block 99", code, stderr.String())
	}
}
