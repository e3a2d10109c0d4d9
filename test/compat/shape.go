package compat

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// strClass names the format of a JSON string the way goloop's formats differ:
// hex integers, 0x hashes, plain-hex block hashes, addresses, base64, text.
func strClass(s string) string {
	switch {
	case s == "":
		return "empty"
	case reHexInt.MatchString(s):
		return "0x-int"
	case reHash0x.MatchString(s):
		return "0x-hash"
	case reBloom.MatchString(s):
		return "0x-bytes"
	case rePlainHash.MatchString(s):
		return "plain-hash"
	case reEOA.MatchString(s):
		return "hx-addr"
	case reSCORE.MatchString(s):
		return "cx-addr"
	case reB64Sig.MatchString(s):
		return "base64-sig"
	}
	return "text"
}

var (
	reHexInt    = regexp.MustCompile(`^-?0x(0|[1-9a-f][0-9a-f]{0,40})$`)
	reHash0x    = regexp.MustCompile(`^0x[0-9a-f]{64}$`)
	reBloom     = regexp.MustCompile(`^0x([0-9a-f]{2}){65,}$`)
	rePlainHash = regexp.MustCompile(`^[0-9a-f]{64}$`)
	reEOA       = regexp.MustCompile(`^hx[0-9a-f]{40}$`)
	reSCORE     = regexp.MustCompile(`^cx[0-9a-f]{40}$`)
	reB64Sig    = regexp.MustCompile(`^[A-Za-z0-9+/]{86}[A-Za-z0-9+/=]{2}$`)
)

// shape describes a JSON value by structure and formats, not by value.
func shape(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return "float"
		}
		return "int"
	case string:
		return "str:" + strClass(x)
	case []any:
		return "array"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "object{" + strings.Join(keys, ",") + "}"
	}
	return fmt.Sprintf("%T", v)
}

// compareShape reports every place where got's shape differs from want's.
// Arrays: when both have items, each element of got must have the
// shape of some element of want (lists such as a SCORE API differ in length).
func compareShape(path string, want, got any) []string {
	ws, gs := shape(want), shape(got)
	if ws == "str:empty" || gs == "str:empty" {
		if _, ok := emptyOK[path[strings.LastIndexByte(path, '.')+1:]]; ok {
			return nil
		}
	}
	if ws != gs {
		return []string{fmt.Sprintf("%s: recorded %s, got %s", path, ws, gs)}
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		var out []string
		for k := range w {
			out = append(out, compareShape(path+"."+k, w[k], g[k])...)
		}
		return out
	case []any:
		g := got.([]any)
		if len(w) == 0 || len(g) == 0 {
			return nil // how many items there are depends on chain contents
		}
		var out []string
		for i, ge := range g {
			var best []string
			for _, we := range w {
				d := compareShape(fmt.Sprintf("%s[%d]", path, i), we, ge)
				if len(d) == 0 {
					best = nil
					break
				}
				if best == nil || len(d) < len(best) {
					best = d
				}
			}
			out = append(out, best...)
		}
		return out
	}
	return nil
}

// emptyOK names fields that are "" or a value depending on chain contents
// (a block without transactions has no merkle root).
var emptyOK = map[string]struct{}{"merkle_tree_root_hash": {}}

func decode(b []byte) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// reDurations hides measured durations inside goloop's timestamp errors.
var reDurations = regexp.MustCompile(`\((min-|max\+)[0-9hmsµun.]+\)`)

func normalizeMessage(s string) string {
	return reDurations.ReplaceAllString(s, "($1…)")
}
