package rawjson

import (
	"encoding/json"
	"testing"
)

func TestRawElements(t *testing.T) {
	in := ` [ {"a":"x,]\"}"} , 12.5e3,"s\\",[1,[2]], null ,{"b":{}}] `
	got := Elements([]byte(in))
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
		got := Elements([]byte(s))
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

func TestGetAndMembers(t *testing.T) {
	obj := []byte(` {"jsonrpc":"2.0", "result" : {"a":[1,"}"]},"id":"x\\\""} `)
	if got := string(Get(obj, "result")); got != `{"a":[1,"}"]}` {
		t.Fatalf("result = %q", got)
	}
	if got := string(Get(obj, "id")); got != `"x\\\""` {
		t.Fatalf("id = %q", got)
	}
	if Get(obj, "error") != nil || Get([]byte(`[1]`), "a") != nil {
		t.Fatal("absent member found")
	}
	var keys []string
	Members(obj, func(m Member) bool { keys = append(keys, string(m.Key)); return true })
	if len(keys) != 3 || keys[1] != `"result"` {
		t.Fatalf("keys %q", keys)
	}
}

func FuzzGet(f *testing.F) {
	f.Add(`{"result":{"a":1},"id":2}`, "result")
	f.Fuzz(func(t *testing.T, s, name string) {
		var parsed map[string]json.RawMessage
		if json.Unmarshal([]byte(s), &parsed) != nil {
			return
		}
		got := Get([]byte(s), name)
		want, ok := parsed[name]
		if !ok {
			return // a duplicate key or none: Get gives the first, encoding/json the last
		}
		if got == nil || !json.Valid(got) {
			t.Fatalf("%q: Get(%q) = %q, encoding/json sees %q", s, name, got, want)
		}
	})
}

func TestScannersKeepBytes(t *testing.T) {
	raw := ` {"a\"}":"x,]}" , "b":[1,{"c":[2,"]"]},null], "n":-1.5e3 }`
	ms := membersOf([]byte(raw))
	if len(ms) != 3 || string(ms[0].Key) != `"a\"}"` || string(ms[0].Val) != `"x,]}"` ||
		string(ms[1].Val) != `[1,{"c":[2,"]"]},null]` || string(ms[2].Val) != `-1.5e3` {
		t.Fatalf("members: %q", ms)
	}
	els := Elements(ms[1].Val)
	if len(els) != 3 || string(els[1]) != `{"c":[2,"]"]}` || string(els[2]) != "null" {
		t.Fatalf("elements: %q", els)
	}
}

func membersOf(b []byte) []Member {
	var out []Member
	Members(b, func(m Member) bool { out = append(out, m); return true })
	return out
}

func BenchmarkGet(b *testing.B) {
	obj := []byte(`{"jsonrpc":"2.0","result":{"height":660,"block_hash":"e8d8"},"id":1}`)
	b.ReportAllocs()
	for b.Loop() {
		if Get(obj, "result") == nil {
			b.Fatal("no result")
		}
	}
}
