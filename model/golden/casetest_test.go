package golden

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sanafarm/sanafarm/kernels/cpu"
)

// expectCasePasses runs golden case name on the CPU backend and requires
// lines results, every one a PASS of that case.
func expectCasePasses(t *testing.T, name string, lines int) {
	t.Helper()
	r := &Runner{Backend: cpu.New(cpu.Config{})}
	res := r.Run(context.Background(), os.DirFS(filepath.Join(goldenDir, name)), name)
	if len(res) != lines {
		t.Errorf("%s: %d results, want %d: %v", name, len(res), lines, res)
	}
	for _, x := range res {
		t.Log(x)
		if !x.Pass() || !strings.HasPrefix(x.String(), "PASS "+name) {
			t.Errorf("%s: %v", name, x)
		}
	}
}

// copyCase copies golden case name into a temporary folder whose files
// and folders the test may rewrite (the checked-in copies are read-only).
func copyCase(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(goldenDir, name))); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
