package iconsim

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/valyala/fastjson"
)

// call is one JSON-RPC request being served.
type call struct {
	ctx     context.Context
	node    *Node
	timeout time.Duration // wait methods: from Icon-Options or the default
	id      []byte        // raw JSON id; nil for a notification
	params  *fastjson.Value
}

type method func(c *call) ([]byte, *icon.Error)

var methods map[string]method

func init() {
	methods = map[string]method{
		"icx_getLastBlock":           (*call).getLastBlock,
		"icx_getBlockByHeight":       (*call).getBlockByHeight,
		"icx_getBlockByHash":         (*call).getBlockByHash,
		"icx_getBalance":             (*call).getBalance,
		"icx_getTotalSupply":         (*call).getTotalSupply,
		"icx_getScoreApi":            (*call).getScoreApi,
		"icx_getScoreStatus":         (*call).getScoreStatus,
		"icx_getNetworkInfo":         (*call).getNetworkInfo,
		"icx_call":                   (*call).icxCall,
		"icx_sendTransaction":        (*call).sendTransaction,
		"icx_sendTransactionAndWait": (*call).sendTransactionAndWait,
		"icx_waitTransactionResult":  (*call).waitTransactionResult,
		"icx_getTransactionResult":   (*call).getTransactionResult,
		"icx_getTransactionByHash":   (*call).getTransactionByHash,
	}
}

// writeMethods are executed even when sent as notifications, as goloop does.
func isWrite(m string) bool {
	return m == "icx_sendTransaction" || m == "icx_sendTransactionAndWait"
}

// serveItem answers one request object. It returns the response (nil for a
// notification) and whether it is an error.
func (n *Node) serveItem(ctx context.Context, v *fastjson.Value, timeout time.Duration, dst []byte) ([]byte, bool) {
	o, err := v.Object()
	if err != nil {
		return icon.AppendResponseError(dst, nil, icon.ErrNotObject), true
	}
	var (
		unknown             string
		hasVer, hasID       bool
		verV, idV, methV, p *fastjson.Value
		hasMethod           bool
	)
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "jsonrpc":
			hasVer, verV = true, v
		case "id":
			hasID, idV = true, v
		case "method":
			hasMethod, methV = true, v
		case "params":
			p = v
		default:
			if unknown == "" {
				unknown = string(k)
			}
		}
	})
	var id []byte
	if hasID && idV.Type() != fastjson.TypeNull {
		id = idV.MarshalTo(nil)
	}
	fail := func(e *icon.Error) ([]byte, bool) { return icon.AppendResponseError(dst, id, e), true }
	if unknown != "" {
		return fail(icon.UnknownFieldError(unknown))
	}
	if hasID && (idV.Type() == fastjson.TypeObject || idV.Type() == fastjson.TypeArray || idV.Type() == fastjson.TypeTrue || idV.Type() == fastjson.TypeFalse) {
		return fail(icon.ErrBadID) // goloop echoes the bad id back
	}
	if !hasVer {
		return fail(icon.ErrNoVersion)
	}
	if verV.Type() != fastjson.TypeString || string(verV.GetStringBytes()) != "2.0" {
		return fail(icon.ErrBadVersion)
	}
	if !hasMethod || methV.Type() != fastjson.TypeString {
		return fail(icon.ErrNoMethod)
	}
	name := string(methV.GetStringBytes())
	n.count(name)
	notification := id == nil
	if notification && !isWrite(name) {
		return dst, false
	}
	m, ok := methods[name]
	if !ok {
		if notification {
			return dst, false
		}
		return fail(icon.ErrMethodNotFound)
	}
	if p != nil && p.Type() == fastjson.TypeNull {
		p = nil
	}
	if p != nil && p.Type() != fastjson.TypeObject {
		return fail(icon.ErrParamsNotObject)
	}
	c := &call{ctx: ctx, node: n, timeout: timeout, id: id, params: p}
	res, e := m(c)
	if notification {
		return dst, false
	}
	if e != nil {
		return fail(e)
	}
	return icon.AppendResponseResult(dst, id, res), false
}

// iconOptionsTimeout reads "timeout=<ms>" from the Icon-Options header.
func iconOptionsTimeout(h string, def time.Duration) time.Duration {
	for _, part := range strings.Split(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || strings.TrimSpace(k) != "timeout" {
			continue
		}
		ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err == nil && ms > 0 {
			d := time.Duration(ms) * time.Millisecond
			if d > def { // goloop caps the client's wait at the server's default
				return def
			}
			return d
		}
	}
	return def
}

// Param helpers: each mirrors a goloop validator and its error text.

func (c *call) requireParams() *icon.Error {
	if c.params == nil {
		return icon.ErrParamsRequired
	}
	return nil
}

// allow rejects any param not named, as goloop's strict unmarshal does.
func (c *call) allow(names ...string) *icon.Error {
	if c.params == nil {
		return nil
	}
	o, _ := c.params.Object()
	var bad string
	o.Visit(func(k []byte, _ *fastjson.Value) {
		if bad != "" {
			return
		}
		for _, n := range names {
			if string(k) == n {
				return
			}
		}
		bad = string(k)
	})
	if bad != "" {
		return icon.UnknownParamError(bad)
	}
	return nil
}

var goTypes = map[string]string{"t_int": "jsonrpc.HexInt", "t_addr": "jsonrpc.Address", "t_hash": "jsonrpc.HexBytes", "t_addr_eoa": "jsonrpc.Address", "t_sig": "string", "t_str": "string"}

// str returns a string param; present is false when absent.
func (c *call) str(name, kind string, required bool) (s string, present bool, e *icon.Error) {
	var v *fastjson.Value
	if c.params != nil {
		v = c.params.Get(name)
	}
	if v == nil || v.Type() == fastjson.TypeNull {
		if required {
			return "", false, icon.NewError(icon.CodeInvalidParams, "InvalidParams: fail to validate, required('"+name+"')")
		}
		return "", false, nil
	}
	if v.Type() != fastjson.TypeString {
		return "", false, icon.NewError(icon.CodeInvalidParams, "InvalidParams: fail to unmarshal, '"+name+"' must be "+goTypes[kind]+" type")
	}
	return string(v.GetStringBytes()), true, nil
}

func (c *call) hexInt(name string, required bool) (int64, bool, *icon.Error) {
	s, ok, e := c.str(name, "t_int", required)
	if e != nil || !ok {
		return 0, ok, e
	}
	v, good := icon.ParseHexInt(s)
	if !good {
		return 0, false, icon.ValidateParamError("t_int", name)
	}
	return v, true, nil
}

func (c *call) address(name string, required bool) (string, bool, *icon.Error) {
	s, ok, e := c.str(name, "t_addr", required)
	if e != nil || !ok {
		return "", ok, e
	}
	if !icon.IsAddress(s) {
		return "", false, icon.ValidateParamError("t_addr", name)
	}
	return s, true, nil
}

func (c *call) hash(name string) ([32]byte, *icon.Error) {
	var h [32]byte
	if e := c.requireParams(); e != nil {
		return h, e
	}
	s, _, e := c.str(name, "t_hash", true)
	if e != nil {
		return h, e
	}
	if !icon.IsHash(s) {
		return h, icon.ValidateParamError("t_hash", name)
	}
	decodeHex(h[:], s[2:])
	return h, nil
}

// height reads an optional "height" param and checks it against the node's view.
func (c *call) height() (int64, *icon.Error) {
	view := c.node.Height()
	h, ok, e := c.hexInt("height", false)
	if e != nil {
		return 0, e
	}
	if !ok {
		return view, nil
	}
	if h < 0 || h > view {
		return 0, icon.NewError(icon.CodeNotFound, "NotFound: E1005:no block for "+strconv.FormatInt(h, 10))
	}
	return h, nil
}

func decodeHex(dst []byte, s string) {
	for i := range dst {
		dst[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
}

func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}
