package cache

import (
	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/valyala/fastjson"
)

// Kind says how an answer to a request may be cached.
type Kind uint8

const (
	// NoCache: never store the answer (writes, waits, anything not provably immutable).
	NoCache Kind = iota
	// Final: the answer can never change once it succeeded.
	Final
	// Head: the answer describes the latest state; valid only while the
	// edge's tip stays the same.
	Head
	// AfterResult: immutable only if the answer shows its block is final
	// (a transaction or a block looked up by hash); Put decides.
	AfterResult
)

func (k Kind) String() string {
	switch k {
	case Final:
		return "final"
	case Head:
		return "head"
	case AfterResult:
		return "after_result"
	}
	return "none"
}

// Classify says, before the upstream call, how the answer to method(params)
// may be cached given the tip (latest block height) the edge knows. tip <= 0
// means the edge has not seen a block yet: nothing is cacheable then,
// because neither finality nor head staleness can be judged.
func (c *Cache) Classify(method string, params *fastjson.Value, tip int64) Kind {
	return classify(method, params, tip, c.depth)
}

func classify(method string, params *fastjson.Value, tip, depth int64) Kind {
	if tip <= 0 {
		return NoCache
	}
	m := routing.Lookup(method)
	if m == nil {
		return NoCache
	}
	switch m.Cache {
	case routing.ByHeight:
		h, ok := heightParam(params)
		if ok && h >= 0 && h <= tip-depth {
			return Final
		}
	case routing.PinnableState:
		if params != nil && params.Type() != fastjson.TypeObject {
			return NoCache
		}
		if params == nil || params.Get("height") == nil {
			return Head
		}
		h, ok := heightParam(params)
		if ok && h >= 0 && h <= tip-depth {
			return Final
		}
	case routing.HeadState:
		return Head
	case routing.TxLookup, routing.BlockByHash:
		return AfterResult
	}
	return NoCache
}

// heightParam reads params.height the way goloop validates a t_int, so a
// request goloop would reject never looks final.
func heightParam(params *fastjson.Value) (int64, bool) {
	if params == nil {
		return 0, false
	}
	hv := params.Get("height")
	if hv == nil || hv.Type() != fastjson.TypeString {
		return 0, false
	}
	return icon.ParseHexInt(string(hv.GetStringBytes()))
}

// storable makes the decision that needs the answer: AfterResult entries are
// kept (as Final) only when the block they come from is final, and Head
// entries only when they are not older than the tip, so a node that lags
// behind the edge cannot plant a stale head.
func storable(method string, kind Kind, tip, depth int64, result []byte, p *fastjson.Parser) (Kind, bool) {
	if len(result) == 0 || string(result) == "null" {
		return NoCache, false
	}
	switch kind {
	case Final:
		return Final, true
	case Head:
		var field string
		switch method {
		case "icx_getLastBlock":
			field = "height"
		case "icx_getNetworkInfo":
			field = "latest"
		default:
			return Head, true
		}
		h, ok := resultHeight(p, result, field)
		return Head, ok && h >= tip
	case AfterResult:
		field := "blockHeight"
		if m := routing.Lookup(method); m != nil && m.Cache == routing.BlockByHash {
			field = "height"
		}
		h, ok := resultHeight(p, result, field)
		return Final, ok && h >= 0 && h <= tip-depth
	}
	return NoCache, false
}

// resultHeight reads a height from an answer: goloop writes block heights
// as JSON integers in v2-style blocks and as t_int strings elsewhere.
func resultHeight(p *fastjson.Parser, result []byte, field string) (int64, bool) {
	v, err := p.ParseBytes(result)
	if err != nil {
		return 0, false
	}
	hv := v.Get(field)
	if hv == nil {
		return 0, false
	}
	switch hv.Type() {
	case fastjson.TypeNumber:
		h, err := hv.Int64()
		return h, err == nil
	case fastjson.TypeString:
		return icon.ParseHexInt(string(hv.GetStringBytes()))
	}
	return 0, false
}
