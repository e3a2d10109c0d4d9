package proxy

import (
	"encoding/json"
	"testing"
)

func TestRawElements(t *testing.T) {
	in := ` [ {"a":"x,]\"}"} , 12.5e3,"s\\",[1,[2]], null ,{"b":{}}] `
	got := rawElements([]byte(in))
	want := []string{`{"a":"x,]\"}"}`, `12.5e3`, `"s\\"`, `[1,[2]]`, `null`, `{"b":{}}`}
	if len(got) != len(want) {
		t.Fatalf("got %d elements %q", len(got), got)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("element %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func FuzzRawElements(f *testing.F) {
	f.Add(`[1,"a",{"b":[2]}]`)
	f.Fuzz(func(t *testing.T, s string) {
		var parsed []json.RawMessage
		if json.Unmarshal([]byte(s), &parsed) != nil {
			return
		}
		got := rawElements([]byte(s))
		if len(got) != len(parsed) {
			t.Fatalf("%q: %d elements, encoding/json sees %d", s, len(got), len(parsed))
		}
		for i := range got {
			if !json.Valid(got[i]) {
				t.Fatalf("%q: element %d %q is not valid JSON", s, i, got[i])
			}
		}
	})
}

func TestEscapeChecks(t *testing.T) {
	for in, want := range map[string]bool{`{"a":"\q"}`: true, `{"a":"\u12"}`: true, `{"a":"\n\u00e9"}`: false, `{"a":1}`: false} {
		if got := hasBadEscape([]byte(in)); got != want {
			t.Errorf("hasBadEscape(%s) = %v", in, got)
		}
	}
	for in, want := range map[string]bool{`"\ud800"`: true, `"\uDBFF\uDC00"`: true, `"\\ud800"`: true, `"\u00e9\u0041"`: false, `"\u"`: false, `"x"`: false} {
		if got := hasSurrogateEscape([]byte(in)); got != want {
			t.Errorf("hasSurrogateEscape(%s) = %v", in, got)
		}
	}
}
