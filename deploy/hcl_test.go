package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

const (
	terraformDir = "terraform"
	moduleDir    = "terraform/modules/sanafarm"
	exampleDir   = "terraform/examples/do-cluster"
	systemdDir   = "systemd"
)

// tfModule is the parsed .tf files of one directory.
type tfModule struct {
	dir    string
	files  map[string]*hclsyntax.Body
	blocks []*hclsyntax.Block
}

// loadModule parses every .tf file of dir (a parse error fails the test).
func loadModule(t *testing.T, dir string) *tfModule {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no .tf files in %s (%v)", dir, err)
	}
	m := &tfModule{dir: dir, files: map[string]*hclsyntax.Body{}}
	p := hclparse.NewParser()
	for _, path := range paths {
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			t.Fatalf("parsing %s: %s", path, diags.Error())
		}
		body := f.Body.(*hclsyntax.Body)
		m.files[path] = body
		m.blocks = append(m.blocks, body.Blocks...)
	}
	return m
}

// tfDirs lists every directory under deploy/terraform holding .tf files.
func tfDirs(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(terraformDir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".terraform") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".tf") {
			seen[filepath.Dir(path)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return dirs
}

// blocksOf returns the top-level blocks of a type (labels[0] filtered when
// name is not empty).
func (m *tfModule) blocksOf(typ, name string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.blocks {
		if b.Type == typ && (name == "" || (len(b.Labels) > 0 && b.Labels[0] == name)) {
			out = append(out, b)
		}
	}
	return out
}

// resource returns the resource block TYPE.NAME.
func (m *tfModule) resource(t *testing.T, typ, name string) *hclsyntax.Block {
	t.Helper()
	for _, b := range m.blocksOf("resource", typ) {
		if b.Labels[1] == name {
			return b
		}
	}
	t.Fatalf("%s: no resource %s.%s", m.dir, typ, name)
	return nil
}

// traversals returns every variable traversal in the module's expressions.
func (m *tfModule) traversals() []hcl.Traversal {
	var out []hcl.Traversal
	for _, body := range m.files {
		hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			if e, ok := n.(hclsyntax.Expression); ok {
				if st, ok := e.(*hclsyntax.ScopeTraversalExpr); ok {
					out = append(out, st.Traversal)
				}
			}
			return nil
		})
	}
	return out
}

// attrName returns the first attribute name of a traversal (var.x → x).
func attrName(tr hcl.Traversal) string {
	if len(tr) < 2 {
		return ""
	}
	if a, ok := tr[1].(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

// functions are the Terraform functions the module's resource and local
// expressions use, enough to evaluate them here (file and templatefile
// read relative to the working directory, as Terraform does).
func functions() map[string]function.Function {
	fns := map[string]function.Function{
		"concat": stdlib.ConcatFunc, "join": stdlib.JoinFunc, "length": stdlib.LengthFunc,
		"range": stdlib.RangeFunc, "zipmap": stdlib.ZipmapFunc, "indent": stdlib.IndentFunc,
		"jsonencode": stdlib.JSONEncodeFunc, "tostring": toStringFunc, "file": fileFunc,
		// variable validations
		"can": tryfunc.CanFunc, "regex": stdlib.RegexFunc, "trimspace": stdlib.TrimSpaceFunc,
		"max": stdlib.MaxFunc, "sha256": sha256Func, "lookup": stdlib.LookupFunc,
	}
	fns["templatefile"] = templateFileFunc(fns)
	return fns
}

var toStringFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return convert.Convert(args[0], cty.String)
	},
})

// sha256Func is Terraform's sha256: the hex digest of the string's UTF-8.
var sha256Func = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "s", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		sum := sha256.Sum256([]byte(args[0].AsString()))
		return cty.StringVal(hex.EncodeToString(sum[:])), nil
	},
})

var fileFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "path", Type: cty.String}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		b, err := os.ReadFile(args[0].AsString())
		if err != nil {
			return cty.NilVal, err
		}
		return cty.StringVal(string(b)), nil
	},
})

// templateFileFunc is Terraform's templatefile: the file is an HCL
// template evaluated with exactly the given variables.
func templateFileFunc(fns map[string]function.Function) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}, {Name: "vars", Type: cty.DynamicPseudoType}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return renderTemplate(args[0].AsString(), args[1].AsValueMap(), fns)
		},
	})
}

func renderTemplate(path string, vars map[string]cty.Value, fns map[string]function.Function) (cty.Value, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return cty.NilVal, err
	}
	expr, diags := hclsyntax.ParseTemplate(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("parsing %s: %s", path, diags.Error())
	}
	v, diags := expr.Value(&hcl.EvalContext{Variables: vars, Functions: fns})
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("rendering %s: %s", path, diags.Error())
	}
	return v, nil
}
