package edge

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/internal/confkey"
	"gopkg.in/yaml.v3"
)

// The configuration's keys are its YAML tags. This file walks them: to check
// a file key by key before it is decoded (so every message names the key as
// written, never a Go type or field), to list every key, and to find what
// changed between two configurations.

// checkDocument checks a parsed file against Config: unknown keys, keys set
// twice and values of the wrong type, each reported once with file:line.
func checkDocument(doc *yaml.Node, file string) error {
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // an empty file: the defaults
	}
	var errs []error
	checkNode(doc.Content[0], reflect.TypeFor[Config](), "", file, &errs)
	return errors.Join(errs...)
}

// hasSection reports whether the file sets a top-level key to something other than null.
func hasSection(doc *yaml.Node, key string) bool {
	if doc.Kind == 0 || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return false
	}
	m := doc.Content[0].Content
	for i := 0; i+1 < len(m); i += 2 {
		if m[i].Value == key {
			return m[i+1].Tag != "!!null"
		}
	}
	return false
}

var durationType = reflect.TypeFor[time.Duration]()

func checkNode(n *yaml.Node, t reflect.Type, key, file string, errs *[]error) {
	bad := func(format string, args ...any) {
		*errs = append(*errs, confkey.New(key, format+" (%s:%d)", append(args, file, n.Line)...))
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return // leaves the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if key == "" {
				bad("the file must be a mapping of keys like listen: 127.0.0.1:9080, got %s", describe(n))
			} else {
				bad("must be a mapping of keys, got %s", describe(n))
			}
			return
		}
		fields := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := confkey.Join(key, k.Value)
			if line, dup := seen[k.Value]; dup {
				*errs = append(*errs, confkey.New(sub, "is set twice (%s:%d and %d)", file, line, k.Line))
				continue
			}
			seen[k.Value] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				hint := ""
				if near := nearest(k.Value, fields); near != "" {
					hint = "; did you mean " + confkey.Join(key, near) + "?"
				}
				*errs = append(*errs, confkey.New(sub, "is not a known key%s (%s:%d)", hint, file, k.Line))
				continue
			}
			checkNode(v, ft, sub, file, errs)
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad("must be a mapping, got %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkNode(n.Content[i+1], t.Elem(), confkey.Join(key, n.Content[i].Value), file, errs)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad("must be a list like [a, b], got %s", describe(n))
			return
		}
		for i, item := range n.Content {
			checkNode(item, t.Elem(), confkey.Index(key, i), file, errs)
		}
	default:
		if n.Kind != yaml.ScalarNode || n.Decode(reflect.New(t).Interface()) != nil {
			bad("must be %s, got %s", kindOf(t), describe(n))
		}
	}
}

// yamlFields maps a struct's YAML keys to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name := yamlName(f); name != "" {
			out[name] = f.Type
		}
	}
	return out
}

// yamlName is a field's key ("" for fields that are not in the file).
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name) // yaml.v3's default
	}
	return name
}

func kindOf(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration like 500ms or 10s"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	}
	return "a single value"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// nearest is the known key a typo most likely meant (within two edits).
func nearest(k string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if d := editDistance(k, name); d < bestD {
			best, bestD = name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Keys lists every key of the configuration file as a path: health.max_lag,
// ratelimit.tiers.*.burst (a map's own keys are *), ratelimit.keys[*].id.
// Lists and maps of plain values are one key each.
func Keys() []string {
	var out []string
	listKeys(reflect.TypeFor[Config](), "", &out)
	return out
}

func listKeys(t reflect.Type, key string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && t != durationType:
		for i := 0; i < t.NumField(); i++ {
			if name := yamlName(t.Field(i)); name != "" {
				listKeys(t.Field(i).Type, confkey.Join(key, name), out)
			}
		}
	case t.Kind() == reflect.Map && isStruct(t.Elem()):
		listKeys(t.Elem(), confkey.Join(key, "*"), out)
	case t.Kind() == reflect.Slice && isStruct(t.Elem()):
		listKeys(t.Elem(), key+"[*]", out)
	default:
		*out = append(*out, key)
	}
}

func isStruct(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// changedKeys lists the keys whose values differ between a and b, down to
// single settings within sections (a section present in one and absent in
// the other, like ratelimit, is one key). Lists and maps count as one value.
func changedKeys(a, b Config) []string {
	var out []string
	diffValues(reflect.ValueOf(a), reflect.ValueOf(b), "", &out)
	return out
}

func diffValues(a, b reflect.Value, key string, out *[]string) {
	if a.Kind() == reflect.Pointer {
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				*out = append(*out, key)
			}
			return
		}
		a, b = a.Elem(), b.Elem()
	}
	if a.Kind() == reflect.Struct {
		for i := 0; i < a.NumField(); i++ {
			if name := yamlName(a.Type().Field(i)); name != "" {
				diffValues(a.Field(i), b.Field(i), confkey.Join(key, name), out)
			}
		}
		return
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		*out = append(*out, key)
	}
}

// field is the settable value at a key path of structs; ok is false when
// the path names no such key.
func field(v reflect.Value, key string) (reflect.Value, bool) {
	for _, name := range strings.Split(key, ".") {
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		found := false
		for i := 0; i < v.NumField(); i++ {
			if yamlName(v.Type().Field(i)) == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, false
		}
	}
	return v, true
}
