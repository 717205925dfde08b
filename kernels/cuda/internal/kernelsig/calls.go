package main

import (
	"fmt"
	"go/ast"
	"go/types"
	"os"
	"strings"

	"golang.org/x/tools/go/packages"
)

// call is one kernel launch site.
type call struct {
	pos     string
	kernels []string // every kernel the name can be (resolve.go)
	nameOK  bool     // all of them are known
	args    []arg
}

type arg struct {
	expr string
	kind kind
}

// launch methods of *cuda.Backend: index of the kernel name and of the
// first kernel argument.
var launchers = map[string][2]int{"launch": {0, 4}, "run": {1, 5}, "runN": {1, 3}}

// launches type-checks kernels/cuda with -tags cuda and returns its
// kernel launch sites (calls that forward args... are not launch sites).
func launches(root string, entries map[string][]kind) ([]call, error) {
	cfg := &packages.Config{
		Mode:       packages.NeedName | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo,
		Dir:        root,
		BuildFlags: []string{"-tags=cuda"},
		Env:        append(os.Environ(), "CGO_ENABLED=1"),
	}
	pkgs, err := packages.Load(cfg, "./kernels/cuda")
	if err != nil {
		return nil, err
	}
	if len(pkgs) != 1 || len(pkgs[0].Errors) > 0 {
		var msgs []string
		for _, p := range pkgs {
			for _, e := range p.Errors {
				msgs = append(msgs, e.Error())
			}
		}
		return nil, fmt.Errorf("loading kernels/cuda with -tags cuda: %s", strings.Join(msgs, "; "))
	}
	p := pkgs[0]
	r := newResolver(p, entries)
	var out []call
	for _, f := range p.Syntax {
		ast.Inspect(f, func(n ast.Node) bool {
			if c, ok := launchSite(r, n); ok {
				out = append(out, c)
			}
			return true
		})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no kernel launches found in kernels/cuda")
	}
	return out, nil
}

// launchSite recognises b.launch/b.run/b.runN(...) with a *Backend
// receiver and explicit arguments.
func launchSite(r *resolver, n ast.Node) (call, bool) {
	p := r.p
	ce, ok := n.(*ast.CallExpr)
	if !ok || ce.Ellipsis.IsValid() {
		return call{}, false
	}
	sel, ok := ce.Fun.(*ast.SelectorExpr)
	if !ok {
		return call{}, false
	}
	idx, ok := launchers[sel.Sel.Name]
	if !ok || !isBackend(p.TypesInfo.TypeOf(sel.X)) || len(ce.Args) < idx[1] {
		return call{}, false
	}
	c := call{pos: p.Fset.Position(ce.Pos()).String()}
	c.kernels, c.nameOK = r.names(ce.Args[idx[0]], 0)
	for _, a := range ce.Args[idx[1]:] {
		c.args = append(c.args, arg{expr: types.ExprString(a), kind: kindOf(p.TypesInfo.TypeOf(a))})
	}
	return c, true
}

func isBackend(t types.Type) bool {
	ptr, ok := t.(*types.Pointer)
	if !ok {
		return false
	}
	named, ok := ptr.Elem().(*types.Named)
	return ok && named.Obj().Name() == "Backend"
}

// kindOf maps a launch argument's Go type to the slot it fills
// (launch.go marshalArg).
func kindOf(t types.Type) kind {
	if t == nil {
		return kindUnknown
	}
	if _, ok := t.Underlying().(*types.Pointer); ok {
		return kind8 // *kernels.Tensor
	}
	if named, ok := t.(*types.Named); ok && named.Obj().Name() == "DevicePtr" {
		return kind8
	}
	b, ok := t.Underlying().(*types.Basic)
	if !ok {
		return kindUnknown
	}
	switch b.Kind() {
	case types.Int64, types.Uint64, types.Uintptr:
		return kind8
	case types.Int32, types.Uint32:
		return kindInt4
	case types.Float32:
		return kindFloat4
	}
	return kindUnknown
}
