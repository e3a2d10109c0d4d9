package cache

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fastjson"
)

func keyOf(t testing.TB, method, params string) string {
	t.Helper()
	if params == "" {
		return string(AppendKey(nil, method, nil))
	}
	v, err := fastjson.Parse(params)
	if err != nil {
		t.Fatalf("parse %s: %v", params, err)
	}
	return string(AppendKey(nil, method, v))
}

func TestKeyIgnoresOrderWhitespaceAndEscapes(t *testing.T) {
	same := [][2]string{
		{`{"address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","height":"0x1"}`,
			` { "height" : "0x1",
			    "address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7" } `},
		{`{"to":"cx0000000000000000000000000000000000000000","dataType":"call","data":{"method":"getRevision","params":{"b":"2","a":"1"}}}`,
			`{"data":{"params":{"a":"1","b":"2"},"method":"getRevision"},"dataType":"call","to":"cx0000000000000000000000000000000000000000"}`},
		{`{"a":"hx\u0041"}`, `{"a":"hxA"}`},
		{`{"a":"x\/y"}`, `{"a":"x/y"}`},
		{`{"\u0061":[1, 2 ,{"y":true,"x":null}]}`, `{"a":[1,2,{"x":null,"y":true}]}`},
	}
	for _, p := range same {
		if a, b := keyOf(t, "icx_call", p[0]), keyOf(t, "icx_call", p[1]); a != b {
			t.Errorf("keys differ:\n%s\n%s", a, b)
		}
	}
}

func TestKeyDistinguishesRequests(t *testing.T) {
	// Every pair here is a different question to goloop; a shared key would
	// serve one client another's answer.
	keys := map[string]string{}
	add := func(method, params string) {
		k := keyOf(t, method, params)
		id := method + " " + params
		if prev, ok := keys[k]; ok {
			t.Errorf("%q and %q share key %q", prev, id, k)
		}
		keys[k] = id
	}
	add("icx_getBalance", `{"address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"}`)
	add("icx_getBalance", `{"address":"hx6d012de5402f8d43a87a1406e24ef69db9972bb4"}`)
	add("icx_getBalance", `{"address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","height":"0x1"}`)
	add("icx_getTotalSupply", "")
	add("icx_getTotalSupply", `{}`)
	add("icx_getTotalSupply", `null`)
	add("icx_getTotalSupply", `{"height":"0x1"}`)
	add("icx_getTotalSupply", `{"height":"0x01"}`)
	add("icx_getLastBlock", "")
	// Quotes inside strings must not be able to forge structure.
	add("icx_call", `{"a":"x\",\"b\":\"y"}`)
	add("icx_call", `{"a":"x","b":"y"}`)
	add("icx_call", `{"a":"x\\","b":"y"}`)
	add("icx_call\"{", `{}`)
	add("icx_call", `{"a":[1,2]}`)
	add("icx_call", `{"a":[2,1]}`)
	add("icx_call", `{"a":"1"}`)
	add("icx_call", `{"a":1}`)
	// Duplicate members: goloop keeps the last, so the order matters.
	add("icx_call", `{"a":"1","a":"2"}`)
	add("icx_call", `{"a":"2","a":"1"}`)
}

func TestKeyManyMembers(t *testing.T) {
	// More members than the stack buffer holds.
	var fwd, rev []string
	for i := 0; i < 40; i++ {
		fwd = append(fwd, fmt.Sprintf(`"k%02d":"v%d"`, i, i))
	}
	for i := len(fwd) - 1; i >= 0; i-- {
		rev = append(rev, fwd[i])
	}
	a := keyOf(t, "m", "{"+strings.Join(fwd, ",")+"}")
	b := keyOf(t, "m", "{"+strings.Join(rev, ",")+"}")
	if a != b {
		t.Fatalf("order leaked into key:\n%s\n%s", a, b)
	}
}

func TestKeyOnRecordedRequests(t *testing.T) {
	// Reordering the params of every recorded request keeps its key, and no
	// two different recorded requests collide.
	files, _ := filepath.Glob(filepath.Join("..", "test", "compat", "testdata", "samples", "*.json"))
	if len(files) == 0 {
		t.Fatal("recorded samples not found in test/compat/testdata/samples")
	}
	seen := map[string]string{}
	n := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Request struct {
				Body string `json:"body"`
			} `json:"request"`
		}
		if json.Unmarshal(raw, &s) != nil {
			continue
		}
		v, err := fastjson.Parse(s.Request.Body)
		if err != nil || v.Type() != fastjson.TypeObject {
			continue
		}
		method := string(v.GetStringBytes("method"))
		params := v.Get("params")
		if method == "" || params == nil || params.Type() != fastjson.TypeObject {
			continue
		}
		k := string(AppendKey(nil, method, params))
		// Rebuild params with members reversed.
		o, _ := params.Object()
		var parts []string
		o.Visit(func(key []byte, v *fastjson.Value) {
			parts = append([]string{`"` + string(key) + `":` + v.String()}, parts...)
		})
		if k2 := keyOf(t, method, "{"+strings.Join(parts, ", ")+"}"); k2 != k {
			t.Errorf("%s: reordered params give another key", f)
		}
		if prev, ok := seen[k]; ok && prev != s.Request.Body {
			// Identical requests recorded twice are fine; different ones are not.
			var a, b any
			_ = json.Unmarshal([]byte(prev), &a)
			_ = json.Unmarshal([]byte(s.Request.Body), &b)
			ja, _ := json.Marshal(a.(map[string]any)["params"])
			jb, _ := json.Marshal(b.(map[string]any)["params"])
			if string(ja) != string(jb) {
				t.Errorf("%s collides with another recorded request", f)
			}
		}
		seen[k] = s.Request.Body
		n++
	}
	if n < 10 {
		t.Fatalf("only %d recorded requests with params were found", n)
	}
}

func TestAppendKeyDoesNotAllocate(t *testing.T) {
	v := fastjson.MustParse(`{"to":"cx0000000000000000000000000000000000000000","dataType":"call","data":{"method":"balanceOf","params":{"_owner":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"}},"height":"0x10"}`)
	buf := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { buf = AppendKey(buf[:0], "icx_call", v) }); n != 0 {
		t.Fatalf("AppendKey allocates %v times per call", n)
	}
}
