// Package archtest checks the import rules of docs/architecture.md §3
// with `go list -deps`, so a layering violation fails CI instead of waiting
// for review.
package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/sanafarm/sanafarm"

// forbidden maps a top-level package (relative to the module) to the
// top-level packages of ours it must never depend on, directly or not.
var forbidden = map[string][]string{
	"protocol":    {"coordinator", "node", "model", "kernels", "shard", "storage", "cmd", "internal", "deploy"},
	"coordinator": {"kernels", "model", "shard", "node"},
	"node":        {"coordinator"},
	"model":       {"coordinator", "node", "storage"},
	"kernels":     {"protocol", "coordinator", "node", "model", "shard", "storage", "cmd", "deploy"},
	"shard":       {"coordinator", "node"},
	"storage":     {"coordinator", "node"},
}

// cuOwner is the only package allowed to import gorgonia.org/cu, whose
// init exits the process on machines without a GPU (docs/architecture.md §3).
const cuOwner = module + "/kernels/cuda"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T, tags string) []pkg {
	t.Helper()
	args := []string{"list", "-deps=false", "-json=ImportPath,Imports,Deps"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, module+"/...")
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, stderr.String())
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list returned no packages")
	}
	return pkgs
}

// topLevel returns the first path element of an import path of ours, or "".
func topLevel(path string) string {
	rest, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	top, _, _ := strings.Cut(rest, "/")
	return top
}

func TestImportRules(t *testing.T) {
	for _, tags := range []string{"", "cuda"} {
		t.Run("tags="+tags, func(t *testing.T) {
			for _, p := range listPackages(t, tags) {
				checkPackage(t, p)
			}
		})
	}
}

func checkPackage(t *testing.T, p pkg) {
	t.Helper()
	bad := forbidden[topLevel(p.ImportPath)]
	for _, dep := range p.Deps {
		if dep == "gorgonia.org/cu" || strings.HasPrefix(dep, "gorgonia.org/cu/") {
			if !strings.HasPrefix(p.ImportPath, cuOwner) && !slices.Contains(p.Deps, cuOwner) {
				t.Errorf("%s imports %s; only %s may", p.ImportPath, dep, cuOwner)
			}
		}
		for _, b := range bad {
			if topLevel(dep) == b {
				t.Errorf("%s depends on %s: docs/architecture.md §3 forbids %s → %s",
					p.ImportPath, dep, topLevel(p.ImportPath), b)
			}
		}
	}
}

func TestTopLevel(t *testing.T) {
	cases := map[string]string{
		module + "/kernels/cpu": "kernels",
		module + "/protocol":    "protocol",
		"golang.org/x/sys/cpu":  "",
	}
	for in, want := range cases {
		if got := topLevel(in); got != want {
			t.Errorf("topLevel(%q) = %q, want %q", in, got, want)
		}
	}
}
