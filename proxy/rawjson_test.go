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
