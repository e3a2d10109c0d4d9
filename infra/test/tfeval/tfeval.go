// Package tfeval evaluates the parts of a Terraform module that depend only
// on its input variables (variables, locals, and resource arguments with
// stand-ins for other resources' ids), with hashicorp/hcl and the cty
// functions Terraform itself uses. It lets tests check what a module would
// declare without a provider or the terraform binary.
package tfeval

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Module is a parsed Terraform module directory.
type Module struct {
	Dir    string
	Blocks []*hclsyntax.Block // every top-level block of every .tf file
}

// Load parses every .tf file in dir.
func Load(dir string) (*Module, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no .tf files", dir)
	}
	sort.Strings(files)
	p := hclparse.NewParser()
	m := &Module{Dir: dir}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		file, diags := p.ParseHCL(src, f)
		if diags.HasErrors() {
			return nil, diags
		}
		m.Blocks = append(m.Blocks, file.Body.(*hclsyntax.Body).Blocks...)
	}
	return m, nil
}

// BlocksOf returns the top-level blocks of a type, e.g. "variable".
func (m *Module) BlocksOf(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// Block returns the top-level block with this type and labels, or nil.
func (m *Module) Block(typ string, labels ...string) *hclsyntax.Block {
	for _, b := range m.BlocksOf(typ) {
		if strings.Join(b.Labels, "\x00") == strings.Join(labels, "\x00") {
			return b
		}
	}
	return nil
}

// Context evaluates the module's variables (inputs over defaults, converted
// to the declared types with optional() defaults applied, as Terraform
// does) and then its locals.
func (m *Module) Context(inputs map[string]cty.Value) (*hcl.EvalContext, error) {
	vars := map[string]cty.Value{}
	for _, b := range m.BlocksOf("variable") {
		name := b.Labels[0]
		ty, defaults := cty.DynamicPseudoType, (*typeexpr.Defaults)(nil)
		if a, ok := b.Body.Attributes["type"]; ok {
			var diags hcl.Diagnostics
			ty, defaults, diags = typeexpr.TypeConstraintWithDefaults(a.Expr)
			if diags.HasErrors() {
				return nil, diags
			}
		}
		v, ok := inputs[name]
		if !ok {
			a, has := b.Body.Attributes["default"]
			if !has {
				return nil, fmt.Errorf("variable %q has no default and no input", name)
			}
			var diags hcl.Diagnostics
			if v, diags = a.Expr.Value(nil); diags.HasErrors() {
				return nil, diags
			}
		}
		if defaults != nil {
			v = defaults.Apply(v)
		}
		cv, err := convert.Convert(v, ty)
		if err != nil {
			return nil, fmt.Errorf("variable %q: %v", name, err)
		}
		vars[name] = cv
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)},
		Functions: Functions(),
	}

	// Locals in dependency order: evaluate whatever has its local.*
	// references ready until nothing is left.
	pending := map[string]hcl.Expression{}
	for _, b := range m.BlocksOf("locals") {
		for name, a := range b.Body.Attributes {
			pending[name] = a.Expr
		}
	}
	locals := map[string]cty.Value{}
	for len(pending) > 0 {
		progress := false
		names := make([]string, 0, len(pending))
		for n := range pending {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, name := range names {
			expr := pending[name]
			if !ready(expr, locals) {
				continue
			}
			ctx.Variables["local"] = cty.ObjectVal(locals)
			v, diags := expr.Value(ctx)
			if diags.HasErrors() {
				return nil, fmt.Errorf("local.%s: %v", name, diags)
			}
			locals[name] = v
			delete(pending, name)
			progress = true
		}
		if !progress {
			return nil, fmt.Errorf("locals %v depend on something other than variables and locals", names)
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	return ctx, nil
}

func ready(expr hcl.Expression, done map[string]cty.Value) bool {
	for _, t := range expr.Variables() {
		if t.RootName() != "local" || len(t) < 2 {
			continue
		}
		if a, ok := t[1].(hcl.TraverseAttr); ok {
			if _, ok := done[a.Name]; !ok {
				return false
			}
		}
	}
	return true
}

// Attributes evaluates a block's arguments (not its nested blocks, not
// for_each/count/depends_on) into an object.
func Attributes(b *hclsyntax.Block, ctx *hcl.EvalContext) (cty.Value, error) {
	out := map[string]cty.Value{}
	for name, a := range b.Body.Attributes {
		switch name {
		case "for_each", "count", "depends_on", "provider", "providers", "source", "version":
			continue
		}
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			return cty.NilVal, fmt.Errorf("%s.%s: %v", strings.Join(b.Labels, "."), name, diags)
		}
		out[name] = v
	}
	return cty.ObjectVal(out), nil
}

// Functions are the Terraform functions the project's modules use, with
// Terraform's semantics (most are cty's stdlib, which Terraform wraps).
func Functions() map[string]function.Function {
	return map[string]function.Function{
		"abs": stdlib.AbsoluteFunc, "alltrue": allTrue, "concat": stdlib.ConcatFunc,
		"contains": stdlib.ContainsFunc, "distinct": stdlib.DistinctFunc, "flatten": stdlib.FlattenFunc,
		"format": stdlib.FormatFunc, "jsonencode": stdlib.JSONEncodeFunc, "keys": stdlib.KeysFunc,
		"length": stdlib.LengthFunc, "lower": stdlib.LowerFunc, "merge": stdlib.MergeFunc,
		"pow": stdlib.PowFunc, "range": stdlib.RangeFunc, "replace": replace, "sort": stdlib.SortFunc,
		"split": stdlib.SplitFunc, "sum": sum, "tonumber": toNumber, "tostring": toString,
		"toset": toSet, "values": stdlib.ValuesFunc,
	}
}

// replace is Terraform's: a substring wrapped in slashes is a regular
// expression (RE2), anything else is replaced literally.
var replace = function.New(&function.Spec{
	Params: []function.Parameter{
		{Name: "str", Type: cty.String}, {Name: "substr", Type: cty.String}, {Name: "replace", Type: cty.String},
	},
	Type: function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		str, substr, repl := args[0].AsString(), args[1].AsString(), args[2].AsString()
		if len(substr) > 1 && substr[0] == '/' && substr[len(substr)-1] == '/' {
			re, err := regexp.Compile(substr[1 : len(substr)-1])
			if err != nil {
				return cty.NilVal, err
			}
			return cty.StringVal(re.ReplaceAllString(str, repl)), nil
		}
		return cty.StringVal(strings.ReplaceAll(str, substr, repl)), nil
	},
})

// sum is Terraform's: the sum of a non-empty list, set or tuple of numbers.
var sum = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		l := args[0]
		if !l.CanIterateElements() || l.LengthInt() == 0 {
			return cty.NilVal, fmt.Errorf("cannot sum an empty or non-list value")
		}
		total := cty.Zero
		for it := l.ElementIterator(); it.Next(); {
			_, v := it.Element()
			n, err := convert.Convert(v, cty.Number)
			if err != nil {
				return cty.NilVal, err
			}
			total = total.Add(n)
		}
		return total, nil
	},
})

var allTrue = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		for it := args[0].ElementIterator(); it.Next(); {
			if _, v := it.Element(); v.False() {
				return cty.False, nil
			}
		}
		return cty.True, nil
	},
})

// Terraform's conversion functions are cty's.
var (
	toNumber = stdlib.MakeToFunc(cty.Number)
	toString = stdlib.MakeToFunc(cty.String)
	toSet    = stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType))
)
