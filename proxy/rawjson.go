package proxy

import (
	"bytes"

	"github.com/valyala/fastjson"
)

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
