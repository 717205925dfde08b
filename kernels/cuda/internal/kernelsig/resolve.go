package main

import (
	"go/ast"
	"go/constant"
	"go/types"
	"sort"
	"strings"

	"golang.org/x/tools/go/packages"
)

// resolver finds the kernel names a computed name expression can take:
// constants, every value of a map literal it indexes (castKernels), the
// names elemKernel(base, …) builds (base_u16/_u32/_u64), values assigned
// to a local variable, and for a function parameter the arguments of every
// call of that function. Anything else stays unresolved.
type resolver struct {
	p       *packages.Package
	entries map[string][]kind
	funcs   map[*types.Func]*ast.FuncDecl
	calls   map[*types.Func][]*ast.CallExpr
}

func newResolver(p *packages.Package, entries map[string][]kind) *resolver {
	r := &resolver{p: p, entries: entries, funcs: map[*types.Func]*ast.FuncDecl{}, calls: map[*types.Func][]*ast.CallExpr{}}
	for _, f := range p.Syntax {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				if fn, ok := p.TypesInfo.Defs[fd.Name].(*types.Func); ok {
					r.funcs[fn] = fd
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if ce, ok := n.(*ast.CallExpr); ok {
				if fn := r.callee(ce); fn != nil {
					r.calls[fn] = append(r.calls[fn], ce)
				}
			}
			return true
		})
	}
	return r
}

func (r *resolver) callee(ce *ast.CallExpr) *types.Func {
	var id *ast.Ident
	switch f := ce.Fun.(type) {
	case *ast.Ident:
		id = f
	case *ast.SelectorExpr:
		id = f.Sel
	default:
		return nil
	}
	fn, _ := r.p.TypesInfo.Uses[id].(*types.Func)
	return fn
}

// enclosing returns the function declaration containing pos.
func (r *resolver) enclosing(e ast.Node) *ast.FuncDecl {
	for _, fd := range r.funcs {
		if fd.Pos() <= e.Pos() && e.End() <= fd.End() {
			return fd
		}
	}
	return nil
}

// names resolves e; ok is false when some value could not be resolved.
func (r *resolver) names(e ast.Expr, depth int) (out []string, ok bool) {
	if depth > 4 {
		return nil, false
	}
	if tv, has := r.p.TypesInfo.Types[e]; has && tv.Value != nil && tv.Value.Kind() == constant.String {
		return []string{constant.StringVal(tv.Value)}, true
	}
	switch x := ast.Unparen(e).(type) {
	case *ast.IndexExpr:
		return r.mapValues(x.X)
	case *ast.CallExpr:
		if fn := r.callee(x); fn != nil && fn.Name() == "elemKernel" && len(x.Args) > 0 {
			bases, ok := r.names(x.Args[0], depth+1)
			var out []string
			for _, b := range bases {
				for _, suf := range []string{"_u16", "_u32", "_u64"} {
					if _, has := r.entries[b+suf]; has {
						out = append(out, b+suf)
					}
				}
			}
			return out, ok && len(out) > 0
		}
	case *ast.Ident:
		return r.identNames(x, depth)
	}
	return nil, false
}

// identNames resolves a variable: a parameter through the calls of its
// function, a local through the values assigned to it.
func (r *resolver) identNames(id *ast.Ident, depth int) ([]string, bool) {
	obj, _ := r.p.TypesInfo.Uses[id].(*types.Var)
	fd := r.enclosing(id)
	if obj == nil || fd == nil {
		return nil, false
	}
	if i := paramIndex(r.p, fd, obj); i >= 0 {
		fn := r.p.TypesInfo.Defs[fd.Name].(*types.Func)
		var out []string
		all := len(r.calls[fn]) > 0
		for _, ce := range r.calls[fn] {
			if i >= len(ce.Args) {
				all = false
				continue
			}
			ns, ok := r.names(ce.Args[i], depth+1)
			out, all = append(out, ns...), all && ok
		}
		return out, all
	}
	var out []string
	all, found := true, false
	ast.Inspect(fd, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok {
			return true
		}
		for li, l := range as.Lhs {
			lid, isID := l.(*ast.Ident)
			if !isID || (r.p.TypesInfo.Defs[lid] != obj && r.p.TypesInfo.Uses[lid] != obj) {
				continue
			}
			rhs := as.Rhs[0]
			if len(as.Rhs) == len(as.Lhs) {
				rhs = as.Rhs[li]
			}
			ns, ok := r.names(rhs, depth+1)
			out, all, found = append(out, ns...), all && ok, true
		}
		return true
	})
	return out, all && found
}

func paramIndex(p *packages.Package, fd *ast.FuncDecl, obj *types.Var) int {
	i := 0
	for _, f := range fd.Type.Params.List {
		for _, n := range f.Names {
			if p.TypesInfo.Defs[n] == obj {
				return i
			}
			i++
		}
	}
	return -1
}

// mapValues lists the string values of the map literal x is (inline) or
// names (a package variable initialised with one).
func (r *resolver) mapValues(x ast.Expr) ([]string, bool) {
	lit, ok := ast.Unparen(x).(*ast.CompositeLit)
	if !ok {
		id, isID := ast.Unparen(x).(*ast.Ident)
		if !isID {
			return nil, false
		}
		lit = r.packageLiteral(r.p.TypesInfo.Uses[id])
	}
	if lit == nil {
		return nil, false
	}
	var out []string
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			return nil, false
		}
		tv := r.p.TypesInfo.Types[kv.Value]
		if tv.Value == nil || tv.Value.Kind() != constant.String {
			return nil, false
		}
		out = append(out, constant.StringVal(tv.Value))
	}
	sort.Strings(out)
	return out, len(out) > 0
}

func (r *resolver) packageLiteral(obj types.Object) *ast.CompositeLit {
	if obj == nil {
		return nil
	}
	for _, f := range r.p.Syntax {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range gd.Specs {
				vs, ok := s.(*ast.ValueSpec)
				if !ok {
					continue
				}
				for i, n := range vs.Names {
					if r.p.TypesInfo.Defs[n] == obj && i < len(vs.Values) {
						lit, _ := vs.Values[i].(*ast.CompositeLit)
						return lit
					}
				}
			}
		}
	}
	return nil
}

// describe is a short list of names for messages.
func describe(ns []string) string { return strings.Join(ns, ", ") }
