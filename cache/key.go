package cache

import (
	"bytes"
	"slices"

	"github.com/valyala/fastjson"
)

// AppendKey appends the cache key of a request to dst: the method and the
// params in a canonical form (object keys sorted, no whitespace, strings
// unescaped and re-quoted one way), so requests that differ only in key
// order, whitespace or string escapes share an entry. params may be nil
// (absent), which gives a different key from an empty object.
//
// The key is not JSON; it only has to be injective. Callers that serve
// several chains or endpoints should put a distinguishing prefix (channel,
// API path) into dst first: the same request to another chain is another
// answer.
//
// fastjson unescapes lazily, in place: like any read of a fastjson value,
// this must not run concurrently with other reads of the same params.
func AppendKey(dst []byte, method string, params *fastjson.Value) []byte {
	dst = appendQuoted(dst, method)
	if params == nil {
		return dst
	}
	return appendCanonical(dst, params)
}

type member struct {
	k []byte
	v *fastjson.Value
}

func appendCanonical(dst []byte, v *fastjson.Value) []byte {
	switch v.Type() {
	case fastjson.TypeObject:
		o, _ := v.Object()
		// Most params objects have a handful of members; keep them on the
		// stack so building a key does not allocate.
		var buf [16]member
		ms := buf[:0]
		o.Visit(func(k []byte, v *fastjson.Value) { ms = append(ms, member{k, v}) })
		// Stable: goloop decodes duplicate members last-wins, so their order
		// must survive into the key.
		slices.SortStableFunc(ms, func(a, b member) int { return bytes.Compare(a.k, b.k) })
		dst = append(dst, '{')
		for i, m := range ms {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendQuoted(dst, m.k)
			dst = append(dst, ':')
			dst = appendCanonical(dst, m.v)
		}
		return append(dst, '}')
	case fastjson.TypeArray:
		a, _ := v.Array()
		dst = append(dst, '[')
		for i, e := range a {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendCanonical(dst, e)
		}
		return append(dst, ']')
	case fastjson.TypeString:
		return appendQuoted(dst, v.GetStringBytes())
	default:
		// Numbers keep their literal text (goloop rejects numeric params
		// anyway); true, false and null have one spelling.
		return v.MarshalTo(dst)
	}
}

// appendQuoted writes s between quotes, escaping only the quote and the
// backslash: enough to make the encoding unambiguous.
func appendQuoted[T ~string | ~[]byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', c)
			start = i + 1
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
