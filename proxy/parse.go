package proxy

import (
	"github.com/icon-edge/icon-edge/cache"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/valyala/fastjson"
)

// call is one JSON-RPC request object after validation. Byte slices point into
// the parser's or the request's memory and live as long as the request.
type call struct {
	raw []byte // the client's bytes of this object
	id  []byte // raw JSON id; nil when absent
	// idBuf holds short ids, so reading one allocates nothing (c.id points
	// here; calls live in place, in the exchange or a batch's slice).
	idBuf  [24]byte
	notify bool // no id, or id null: the client wants no answer
	method *method
	params *fastjson.Value
	need   upstream.Need
	err    *icon.Error // set when the call is answered at the edge

	// Filled while serving.
	answer   []byte // the complete response object (batch items)
	code     int    // JSON-RPC error code of the answer, 0 on success
	upstream string
	retries  int

	cacheHit  bool
	cacheKind cache.Kind
	cacheKey  []byte
}

// parseCall validates one request object the way goloop does, in goloop's
// order, so an invalid request gets the same error text a node would give.
func (st *settings) parseCall(v *fastjson.Value, debugAPI bool, c *call) {
	*c = call{}
	obj, err := v.Object()
	if err != nil {
		c.err = icon.ErrNotObject
		return
	}
	var version, method, id *fastjson.Value
	var unknown []byte
	obj.Visit(func(k []byte, fv *fastjson.Value) {
		switch string(k) {
		case "jsonrpc":
			version = fv
		case "method":
			method = fv
		case "params":
			c.params = fv
		case "id":
			id = fv
		default:
			if unknown == nil {
				unknown = k
			}
		}
	})
	if id != nil && id.Type() != fastjson.TypeNull {
		c.id = appendID(c.idBuf[:0], id)
	} else {
		c.notify = true
	}
	if unknown != nil {
		c.err = icon.UnknownFieldError(string(unknown))
		return
	}
	switch {
	case version == nil:
		c.err = icon.ErrNoVersion
		return
	case version.Type() != fastjson.TypeString || string(version.GetStringBytes()) != "2.0":
		c.err = icon.ErrBadVersion
		return
	case method == nil:
		c.err = icon.ErrNoMethod
		return
	case method.Type() != fastjson.TypeString:
		c.err = icon.NewError(icon.CodeInvalidRequest, "InvalidRequest: fail to unmarshal, 'method' must be string type")
		return
	}
	if id != nil {
		switch id.Type() {
		case fastjson.TypeString, fastjson.TypeNumber, fastjson.TypeNull:
		default:
			c.err = icon.ErrBadID
			return
		}
	}
	m := st.methods[string(method.GetStringBytes())]
	if m == nil || m.Debug != debugAPI {
		c.err = icon.ErrMethodNotFound
		return
	}
	c.method = m
	if c.params != nil && c.params.Type() == fastjson.TypeNull {
		c.params = nil
	}
	if c.params != nil && c.params.Type() != fastjson.TypeObject {
		c.err = icon.ErrParamsNotObject
		return
	}
	c.need = needOf(m.Method, c.params)
}

// needOf reads the height a call is pinned to. A height a node would reject
// routes like a latest read; the node then answers with goloop's own error.
func needOf(m *routing.Method, params *fastjson.Value) upstream.Need {
	switch m.Height {
	case routing.Pinnable, routing.Pinned:
		if params != nil {
			if hv := params.Get("height"); hv != nil && hv.Type() == fastjson.TypeString {
				if h, ok := icon.ParseHexInt(string(hv.GetStringBytes())); ok && h >= 0 {
					return upstream.Need{MinHeight: h}
				}
			}
		}
	}
	return upstream.Need{Latest: true}
}

// methodLabel is the metrics label for a call: its method, or why it has none.
func (c *call) methodLabel() string {
	if c.method != nil {
		return c.method.Name
	}
	return "invalid"
}

// appendID encodes an id for answers the edge writes itself, as goloop would
// echo it: strings re-encoded like encoding/json, numbers as sent. It
// returns nil (not dst) for an id nobody could read back: answered as null.
func appendID(dst []byte, id *fastjson.Value) []byte {
	switch id.Type() {
	case fastjson.TypeString:
		return icon.AppendJSONString(dst, string(id.GetStringBytes()))
	case fastjson.TypeNumber:
		if b := id.MarshalTo(dst); validNumber(b[len(dst):]) {
			return b
		}
		return nil
	}
	b := id.MarshalTo(dst)
	if fastjson.ValidateBytes(b[len(dst):]) != nil {
		return nil
	}
	return b
}

// validNumber checks JSON number grammar; fastjson's parser is more lenient.
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}
