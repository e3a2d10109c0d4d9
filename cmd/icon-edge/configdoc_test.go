package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/icon-edge/icon-edge/edge"
)

// yamlKeys lists the dotted YAML keys of a config type: nested sections
// recurse, lists and maps of structs recurse under their own key.
func yamlKeys(t reflect.Type, prefix string, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] || t.PkgPath() == "time" {
		return nil
	}
	seen[t] = true
	defer delete(seen, t)
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" { // inline
			out = append(out, yamlKeys(f.Type, prefix, seen)...)
			continue
		}
		key := prefix + name
		out = append(out, key)
		out = append(out, yamlKeys(f.Type, key+".", seen)...)
	}
	return out
}

// TestConfigurationReferenceNamesEveryKey keeps docs/configuration.md, the
// reference --help points at, in step with the edge's configuration: every
// YAML key must be named in it.
func TestConfigurationReferenceNamesEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for _, key := range yamlKeys(reflect.TypeOf(edge.Config{}), "", map[reflect.Type]bool{}) {
		leaf := key[strings.LastIndex(key, ".")+1:]
		named := false
		for _, form := range []string{"`" + key + "`", "`" + key + ".", "`" + leaf + "`", "." + leaf + "`"} {
			named = named || strings.Contains(text, form)
		}
		if !named {
			t.Errorf("docs/configuration.md does not name %s", key)
		}
	}
}
