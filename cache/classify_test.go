package cache

import (
	"testing"

	"github.com/valyala/fastjson"
)

func TestClassify(t *testing.T) {
	const tip = 100 // final height is 99 with the default depth of 1
	cases := []struct {
		method, params string
		want           Kind
	}{
		{"icx_getBlockByHeight", `{"height":"0x63"}`, Final}, // 99
		{"icx_getBlockByHeight", `{"height":"0x0"}`, Final},
		{"icx_getBlockByHeight", `{"height":"0x64"}`, NoCache},    // the tip itself is not final
		{"icx_getBlockByHeight", `{"height":"0x18934"}`, NoCache}, // future
		{"icx_getBlockByHeight", `{"height":"0x01"}`, NoCache},    // goloop rejects zero padding
		{"icx_getBlockByHeight", `{"height":"0x1A"}`, NoCache},    // and uppercase
		{"icx_getBlockByHeight", `{"height":1}`, NoCache},         // and numbers
		{"icx_getBlockByHeight", `{"height":"-0x1"}`, NoCache},
		{"icx_getBlockByHeight", ``, NoCache},
		{"icx_getBlockByHeight", `["0x1"]`, NoCache},
		{"icx_getBlockHeaderByHeight", `{"height":"0x1"}`, Final},
		{"icx_getBlockByHash", `{"hash":"0xe8d89fcfa2f8ec8647faeafa335b12205800e133164aef5f20516a2690ffbda5"}`, AfterResult},
		{"icx_getTransactionResult", `{"txHash":"0xa753a5457cb0f6fe3dbd4fff17b5d836c642896fe6223dd064e31599e13b9533"}`, AfterResult},
		{"icx_getTransactionByHash", `{"txHash":"0xa753a5457cb0f6fe3dbd4fff17b5d836c642896fe6223dd064e31599e13b9533"}`, AfterResult},
		{"icx_getBalance", `{"address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"}`, Head},
		{"icx_getBalance", `{"address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","height":"0x1"}`, Final},
		{"icx_getBalance", `{"address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","height":"0x64"}`, NoCache},
		{"icx_getBalance", `{"address":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","height":"0x0a"}`, NoCache},
		{"icx_getBalance", `["hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"]`, NoCache},
		{"icx_getTotalSupply", ``, Head},
		{"icx_getTotalSupply", `{"height":"0x1"}`, Final},
		{"icx_call", `{"to":"cx0000000000000000000000000000000000000000","dataType":"call","data":{"method":"getRevision"}}`, Head},
		{"icx_call", `{"to":"cx0000000000000000000000000000000000000000","dataType":"call","data":{"method":"getRevision"},"height":"0x5"}`, Final},
		{"icx_getScoreApi", `{"address":"cx0000000000000000000000000000000000000000","height":"0x5"}`, Final},
		{"icx_getScoreStatus", `{"address":"cx0000000000000000000000000000000000000000"}`, Head},
		{"icx_getLastBlock", ``, Head},
		{"icx_getNetworkInfo", ``, Head},
		{"icx_sendTransaction", `{"version":"0x3"}`, NoCache},
		{"icx_sendTransactionAndWait", `{"version":"0x3"}`, NoCache},
		{"icx_waitTransactionResult", `{"txHash":"0xa753a5457cb0f6fe3dbd4fff17b5d836c642896fe6223dd064e31599e13b9533"}`, NoCache},
		{"icx_getVotesByHeight", `{"height":"0x1"}`, NoCache},
		{"debug_getTrace", `{"txHash":"0xa753a5457cb0f6fe3dbd4fff17b5d836c642896fe6223dd064e31599e13b9533"}`, NoCache},
		{"no_such_method", ``, NoCache},
	}
	c := newTestCache(t, Config{})
	for _, tc := range cases {
		var p *fastjson.Value
		if tc.params != "" {
			p = fastjson.MustParse(tc.params)
		}
		if got := c.Classify(tc.method, p, tip); got != tc.want {
			t.Errorf("%s %s at tip %d: got %v, want %v", tc.method, tc.params, tip, got, tc.want)
		}
		// Before the edge has seen a block nothing can be judged.
		if got := c.Classify(tc.method, p, 0); got != NoCache {
			t.Errorf("%s %s with unknown tip: got %v, want none", tc.method, tc.params, got)
		}
	}
}

func TestClassifyFinalityDepth(t *testing.T) {
	c := newTestCache(t, Config{FinalityDepth: ptr[int64](3)})
	p := func(h string) *fastjson.Value { return fastjson.MustParse(`{"height":"` + h + `"}`) }
	if got := c.Classify("icx_getBlockByHeight", p("0x61"), 100); got != Final { // 97
		t.Errorf("97 at tip 100, depth 3: got %v, want final", got)
	}
	if got := c.Classify("icx_getBlockByHeight", p("0x62"), 100); got != NoCache { // 98
		t.Errorf("98 at tip 100, depth 3: got %v, want none", got)
	}
}

func ptr[T any](v T) *T { return &v }

// finality_depth: 0 is documented as "the tip is final"; it must not
// silently become the default depth of 1.
func TestFinalityDepthZeroIsKept(t *testing.T) {
	c := newTestCache(t, Config{FinalityDepth: ptr[int64](0)})
	var p fastjson.Parser
	params, _ := p.Parse(`{"height":"0x64"}`)
	if got := c.Classify("icx_getBlockByHeight", params, 100); got != Final {
		t.Fatalf("block at the tip with depth 0: got %v, want final", got)
	}
	d := newTestCache(t, Config{})
	if got := d.Classify("icx_getBlockByHeight", params, 100); got != NoCache {
		t.Fatalf("block at the tip with the default depth: got %v, want none", got)
	}
}
