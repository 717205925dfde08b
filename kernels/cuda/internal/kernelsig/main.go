// Command kernelsig checks every kernel launch of the CUDA backend against
// the kernel's parameters in the committed PTX: a launch passes its
// arguments as untyped slots (kernels/cuda/launch.go), so a missing,
// extra or mis-sized argument is not a compile error but silent garbage
// on the GPU. It type-checks package kernels/cuda with -tags cuda (cgo and
// cuda.h needed, as for make vet-cuda), finds each b.launch/b.run/b.runN
// call with a literal kernel name, and compares the count and the kind
// (8-byte, 4-byte int, 4-byte float) of its arguments with the .param
// list of that .entry in kernels/cuda/ptx/*.sm90.ptx. Run by make
// vet-cuda; exits 1 on any mismatch.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	if err := run(root); err != nil {
		fmt.Fprintln(os.Stderr, "kernelsig:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	files, err := filepath.Glob(filepath.Join(root, "kernels/cuda/ptx/*.sm90.ptx"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no PTX under %s/kernels/cuda/ptx (%v)", root, err)
	}
	entries := map[string][]kind{}
	for _, f := range files {
		es, err := parseFile(f)
		if err != nil {
			return err
		}
		for name, ks := range es {
			entries[name] = ks
		}
	}
	calls, err := launches(root, entries)
	if err != nil {
		return err
	}
	var bad []string
	pairs := 0
	for _, c := range calls {
		if !c.nameOK || len(c.kernels) == 0 {
			bad = append(bad, fmt.Sprintf("%s: cannot tell which kernel this launches (resolved: %s); name it with a constant", c.pos, describe(c.kernels)))
			continue
		}
		for _, k := range c.kernels {
			pairs++
			ps, found := entries[k]
			if msg := compare(k, c, ps, found); msg != "" {
				bad = append(bad, fmt.Sprintf("%s: %s", c.pos, msg))
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		fmt.Fprintln(os.Stderr, b)
	}
	fmt.Printf("kernelsig: %d launch sites, %d (site, kernel) pairs checked against %d PTX entries: %d problems\n",
		len(calls), pairs, len(entries), len(bad))
	if len(bad) > 0 {
		return fmt.Errorf("%d launches do not match their kernel's parameters", len(bad))
	}
	return nil
}

// parseFile parses one PTX file.
func parseFile(f string) (map[string][]kind, error) {
	b, err := os.ReadFile(f)
	if err != nil {
		return nil, err
	}
	es, err := parsePTX(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f, err)
	}
	return es, nil
}

// compare describes how call c differs from params (empty: it matches).
func compare(kernel string, c call, params []kind, found bool) string {
	if !found {
		return fmt.Sprintf("kernel %q is in no PTX module", kernel)
	}
	if len(c.args) != len(params) {
		return fmt.Sprintf("%s: %d arguments, the kernel takes %d (%v)", kernel, len(c.args), len(params), params)
	}
	for i, a := range c.args {
		if a.kind != params[i] {
			return fmt.Sprintf("%s: argument %d (%s) is %v, the kernel's parameter %d is %v", kernel, i, a.expr, a.kind, i, params[i])
		}
	}
	return ""
}
