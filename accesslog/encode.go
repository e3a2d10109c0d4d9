package accesslog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Client IP privacy modes (Config.ClientIP).
const (
	ClientIPFull     = "full"     // the address as seen
	ClientIPTruncate = "truncate" // IPv4 /24, IPv6 /48: coarse geography, no individual
	ClientIPHash     = "hash"     // keyed HMAC-SHA256: joinable across documents, not reversible without the salt
	ClientIPNone     = "none"     // omitted
)

// maxFieldLen bounds client-controlled strings (the method name is whatever
// the caller sent) so one hostile request cannot make a huge document.
const maxFieldLen = 256

// record is what travels through the queue: a value copy of Entry with the
// client address already in a form that holds no caller memory.
type record struct {
	time      time.Time
	region    string
	method    string
	status    int
	rpcCode   int
	latency   time.Duration
	upstream  string
	cacheHit  bool
	retries   int
	bytes     int
	requestID string
	apiKeyID  string
	ip        netip.Addr
}

// ipMode is the parsed Config.ClientIP.
type ipMode uint8

const (
	ipFull ipMode = iota
	ipTruncate
	ipHash
	ipNone
)

func parseIPMode(s string) (ipMode, error) {
	switch s {
	case "", ClientIPFull:
		return ipFull, nil
	case ClientIPTruncate:
		return ipTruncate, nil
	case ClientIPHash:
		return ipHash, nil
	case ClientIPNone:
		return ipNone, nil
	}
	return 0, fmt.Errorf("accesslog: client_ip %q: want full, truncate, hash or none", s)
}

// encoder turns records into one JSON document each. It is owned by a single
// sink goroutine, so its scratch state needs no locking.
type encoder struct {
	mode ipMode
	mac  []byte // HMAC key for ipHash
	sum  [sha256.Size]byte
}

// appendDoc appends the JSON document for r (no trailing newline).
// Field names are the ones the index template maps and the Kibana objects use.
func (e *encoder) appendDoc(b []byte, r *record) []byte {
	b = append(b, `{"@timestamp":"`...)
	b = r.time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, '"')
	b = appendStringField(b, "region", r.region)
	b = appendStringField(b, "method", r.method)
	b = append(b, `,"http_status":`...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, `,"rpc_code":`...)
	b = strconv.AppendInt(b, int64(r.rpcCode), 10)
	// Milliseconds with microsecond precision: what people read in Kibana,
	// without losing sub-millisecond cache hits.
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendFloat(b, float64(r.latency.Microseconds())/1000, 'f', -1, 64)
	b = appendStringField(b, "upstream", r.upstream)
	b = append(b, `,"cache_hit":`...)
	b = strconv.AppendBool(b, r.cacheHit)
	b = append(b, `,"retries":`...)
	b = strconv.AppendInt(b, int64(r.retries), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(r.bytes), 10)
	b = appendStringField(b, "request_id", r.requestID)
	b = appendStringField(b, "api_key_id", r.apiKeyID)
	b = e.appendClientIP(b, r.ip)
	return append(b, '}')
}

func (e *encoder) appendClientIP(b []byte, ip netip.Addr) []byte {
	if !ip.IsValid() {
		return b
	}
	ip = ip.Unmap()
	switch e.mode {
	case ipNone:
		return b
	case ipTruncate:
		bits := 24
		if ip.Is6() {
			bits = 48
		}
		p, err := ip.Prefix(bits)
		if err != nil {
			return b
		}
		ip = p.Addr()
	case ipHash:
		h := hmac.New(sha256.New, e.mac)
		raw := ip.As16()
		h.Write(raw[:])
		sum := h.Sum(e.sum[:0])
		b = append(b, `,"client_ip_hash":"`...)
		b = hex.AppendEncode(b, sum[:16])
		return append(b, '"')
	}
	b = append(b, `,"client_ip":"`...)
	b = ip.AppendTo(b)
	return append(b, '"')
}

// appendStringField appends ,"name":"value"; empty values are left out so
// documents stay small and Kibana's "exists" filters mean something.
func appendStringField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":`...)
	return appendJSONString(b, v)
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes v as a JSON string. Invalid UTF-8 becomes U+FFFD and
// the value is cut at maxFieldLen bytes, because it may come straight from a
// client.
func appendJSONString(b []byte, v string) []byte {
	if len(v) > maxFieldLen {
		v = v[:maxFieldLen]
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, v[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, v[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028/2029 are valid JSON but break JavaScript consumers of the lines.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, v[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, v[start:]...)
	return append(b, '"')
}

// indexNamer expands a Logstash-style date pattern such as
// "icon-edge-access-%{+yyyy.MM.dd}" from the document's time (UTC), caching
// the last name so a day's documents cost one comparison.
type indexNamer struct {
	prefix, suffix string
	layout         string // Go time layout; empty: fixed name (data stream or alias)
	lastKey        int64
	last           string
}

func newIndexNamer(pattern string) (*indexNamer, error) {
	if pattern == "" {
		return nil, fmt.Errorf("accesslog: empty index name")
	}
	i := strings.Index(pattern, "%{+")
	if i < 0 {
		if strings.ContainsAny(pattern, "%{}*, \"\\/") || strings.ToLower(pattern) != pattern {
			return nil, fmt.Errorf("accesslog: invalid index or data stream name %q", pattern)
		}
		return &indexNamer{prefix: pattern, last: pattern}, nil
	}
	j := strings.Index(pattern[i:], "}")
	if j < 0 {
		return nil, fmt.Errorf("accesslog: unterminated date pattern in index %q", pattern)
	}
	java := pattern[i+3 : i+j]
	layout := java
	for _, r := range [][2]string{{"yyyy", "2006"}, {"MM", "01"}, {"dd", "02"}, {"HH", "15"}} {
		layout = strings.ReplaceAll(layout, r[0], r[1])
	}
	if strings.ContainsAny(layout, "yMdHhmsS") || layout == "" {
		return nil, fmt.Errorf("accesslog: date pattern %q: only yyyy, MM, dd and HH are supported", java)
	}
	n := &indexNamer{prefix: pattern[:i], suffix: pattern[i+j+1:], layout: layout, lastKey: -1}
	if strings.Contains(n.suffix, "%{") {
		return nil, fmt.Errorf("accesslog: index %q: only one date pattern is supported", pattern)
	}
	return n, nil
}

// dated reports whether names roll over with time (daily indices) rather
// than naming one data stream.
func (n *indexNamer) dated() bool { return n.layout != "" }

// name returns the index for a document written at t.
func (n *indexNamer) name(t time.Time) string {
	if n.layout == "" {
		return n.last
	}
	t = t.UTC()
	key := t.Unix() / 3600 // HH is the finest unit supported
	if key != n.lastKey {
		n.lastKey = key
		n.last = n.prefix + t.Format(n.layout) + n.suffix
	}
	return n.last
}

// templatePattern is the index pattern the index template applies to.
func (n *indexNamer) templatePattern() string {
	if n.layout == "" {
		return n.prefix + "*"
	}
	return n.prefix + "*" + n.suffix
}
