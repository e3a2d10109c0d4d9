package compat

import "testing"

func TestCompareShape(t *testing.T) {
	must := func(s string) any {
		v, err := decode([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	same := [][2]string{
		{`{"a":"0x1","b":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"}`, `{"b":"hx6d012de5402f8d43a87a1406e24ef69db9972bb4","a":"0x1f"}`},
		{`{"height":660,"l":[{"x":"0x1"}]}`, `{"height":3,"l":[{"x":"0x0"},{"x":"0x2"}]}`},
		{`{"l":[]}`, `{"l":[{"x":"0x0"}]}`},
		{`{"merkle_tree_root_hash":""}`, `{"merkle_tree_root_hash":"d81400ee58a3dba037fb12425ccd8eda00bb2ec8ad461341262692ba7dee4a4a"}`},
	}
	for _, c := range same {
		if d := compareShape("", must(c[0]), must(c[1])); len(d) != 0 {
			t.Errorf("%s vs %s: %v", c[0], c[1], d)
		}
	}
	differ := [][2]string{
		{`{"a":"0x1"}`, `{"a":1}`},               // hex string vs JSON number
		{`{"a":"0x1"}`, `{"a":"0x01"}`},          // zero-padded hex
		{`{"a":"0x1"}`, `{"a":"0x1","b":"0x2"}`}, // extra field
		{`{"h":"452d73471b1e5115020e7971109457c35352e2e3803650297246381d815f2fc7"}`, `{"h":"0x452d73471b1e5115020e7971109457c35352e2e3803650297246381d815f2fc7"}`},
		{`{"l":[{"x":"0x1"}]}`, `{"l":[{"y":"0x1"}]}`},
		{`{"peer_id":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"}`, `{"peer_id":""}`},
		{`{"id":1}`, `{"id":1.5}`},
	}
	for _, c := range differ {
		if d := compareShape("", must(c[0]), must(c[1])); len(d) == 0 {
			t.Errorf("%s vs %s: no difference found", c[0], c[1])
		}
	}
}

func TestNormalizeMessage(t *testing.T) {
	a := normalizeMessage("SystemError: E2002:Expired(min-4m58.828399s)")
	b := normalizeMessage("SystemError: E2002:Expired(min-5m0.001s)")
	if a != b || a == "SystemError: E2002:Expired(min-4m58.828399s)" {
		t.Fatalf("%q %q", a, b)
	}
}
