package proxy

import (
	"bytes"

	"github.com/valyala/fastjson"
)

// The edge forwards the client's bytes, not a re-encoding of them: a
// re-encoder may escape exotic strings differently from Go's encoding/json
// (which nodes use), and copying is cheaper anyway. These helpers cut raw
// JSON that fastjson has already accepted.

// rawElements returns the raw bytes of each element of a valid JSON array.
func rawElements(b []byte) [][]byte {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil
	}
	var out [][]byte
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] == ']' {
			return out
		}
		end := valueEnd(b, i)
		out = append(out, b[i:end])
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
}

// valueEnd returns the index just past the JSON value starting at i.
func valueEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i) - 1
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // closes the enclosing array: a scalar ended
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

// stringEnd returns the index just past the string whose quote is at i.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// hasBadEscape reports string escapes JSON forbids (\q, a short \u), which
// fastjson's parser keeps as literal text; goloop answers such a body -32700.
// Only bodies with a backslash pay for the check.
func hasBadEscape(b []byte) bool {
	return bytes.IndexByte(b, '\\') >= 0 && fastjson.ValidateBytes(b) != nil
}

// hasSurrogateEscape reports a \uD800-\uDFFF escape. fastjson and Go's
// encoding/json decode unpaired surrogates differently, so two different
// requests could share one canonical cache key; such calls are not cached.
func hasSurrogateEscape(b []byte) bool {
	for i := bytes.Index(b, []byte(`\u`)); i >= 0 && i+3 < len(b); {
		if c := b[i+2] | 0x20; c == 'd' && (b[i+3] >= '8' && b[i+3] <= '9' || (b[i+3]|0x20) >= 'a' && (b[i+3]|0x20) <= 'f') {
			return true
		}
		next := bytes.Index(b[i+2:], []byte(`\u`))
		if next < 0 {
			return false
		}
		i += 2 + next
	}
	return false
}

// hasControlBytes reports raw control characters, which JSON forbids inside
// strings and fastjson lets through; goloop answers such a body -32700.
func hasControlBytes(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return true
		}
	}
	return false
}

// rawMember returns the raw value of a top-level member of a JSON object,
// nil when absent.
func rawMember(obj []byte, name string) []byte {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return nil
		}
		kEnd := stringEnd(obj, i)
		key := obj[i+1 : max(kEnd-1, i+1)]
		i = skipSpace(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return nil
		}
		i = skipSpace(obj, i+1)
		vEnd := valueEnd(obj, i)
		if string(key) == name {
			return obj[i:vEnd]
		}
		i = skipSpace(obj, vEnd)
		if i >= len(obj) || obj[i] != ',' {
			return nil
		}
		i++
	}
}
