package accesslog

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func encodeIP(t *testing.T, mode, salt, ip string) map[string]any {
	t.Helper()
	m, err := parseIPMode(mode)
	if err != nil {
		t.Fatal(err)
	}
	e := &encoder{mode: m, mac: []byte(salt)}
	r := record{time: time.Unix(0, 0), ip: netip.MustParseAddr(ip)}
	var d map[string]any
	if err := json.Unmarshal(e.appendDoc(nil, &r), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestClientIPPrivacyModes(t *testing.T) {
	cases := []struct{ mode, ip, field, want string }{
		{"full", "203.0.113.77", "client_ip", "203.0.113.77"},
		{"", "2001:db8:1:2:3:4:5:6", "client_ip", "2001:db8:1:2:3:4:5:6"},
		{"truncate", "203.0.113.77", "client_ip", "203.0.113.0"},
		{"truncate", "::ffff:203.0.113.77", "client_ip", "203.0.113.0"},
		{"truncate", "2001:db8:1:2:3:4:5:6", "client_ip", "2001:db8:1::"},
	}
	for _, c := range cases {
		d := encodeIP(t, c.mode, "", c.ip)
		if d[c.field] != c.want {
			t.Errorf("%s %s: %s = %v, want %s", c.mode, c.ip, c.field, d[c.field], c.want)
		}
	}
	if d := encodeIP(t, "none", "", "203.0.113.77"); d["client_ip"] != nil || d["client_ip_hash"] != nil {
		t.Errorf("none leaked the address: %v", d)
	}
	h1 := encodeIP(t, "hash", "s1", "203.0.113.77")
	h1again := encodeIP(t, "hash", "s1", "::ffff:203.0.113.77")
	h2 := encodeIP(t, "hash", "s2", "203.0.113.77")
	other := encodeIP(t, "hash", "s1", "203.0.113.78")
	if h1["client_ip"] != nil {
		t.Errorf("hash mode wrote the address: %v", h1)
	}
	hash, _ := h1["client_ip_hash"].(string)
	if len(hash) != 32 || strings.Contains(hash, "203") {
		t.Errorf("hash %q", hash)
	}
	if hash != h1again["client_ip_hash"] {
		t.Error("same address (mapped or not) hashed differently: documents cannot be joined")
	}
	if hash == h2["client_ip_hash"] || hash == other["client_ip_hash"] {
		t.Error("hash ignores the salt or the address")
	}
}

func TestJSONStringRoundTrips(t *testing.T) {
	for _, s := range []string{
		"", "icx_call", `q"uo\te`, "tab\tnl\nnul\x00del\x7f", "ünïcødé ✓ 𝄞", "line\u2028sep\u2029",
		"</script>", strings.Repeat("x", maxFieldLen),
	} {
		var got string
		b := appendJSONString(nil, s)
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Errorf("%q encoded as %s decodes to %q (%v)", s, b, got, err)
		}
	}
	// Invalid UTF-8 and oversize input still produce valid JSON.
	b := appendJSONString(nil, "bad\xff\xfe"+strings.Repeat("y", 1000))
	var got string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if !strings.HasPrefix(got, "bad\ufffd\ufffd") || len(got) > maxFieldLen+4 {
		t.Errorf("got %q", got)
	}
}

func FuzzJSONString(f *testing.F) {
	f.Add("icx_getBalance")
	f.Add("\xff\"\\\x01")
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		if in := s[:min(len(s), maxFieldLen)]; utf8.ValidString(in) && got != in {
			t.Fatalf("%q -> %q", in, got)
		}
	})
}

func TestIndexNames(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 5*3600))
	for pattern, want := range map[string]string{
		"icon-edge-access-%{+yyyy.MM.dd}":    "icon-edge-access-2026.01.01", // UTC day
		"edge-%{+yyyy.MM.dd.HH}-eu":          "edge-2026.01.01.22-eu",
		"logs-iconedge-default":              "logs-iconedge-default",
		"icon-edge-access-%{+yyyy-MM}":       "icon-edge-access-2026-01",
		"icon-edge-access-%{+yyyy.MM.dd}-v2": "icon-edge-access-2026.01.01-v2",
	} {
		n, err := newIndexNamer(pattern)
		if err != nil {
			t.Fatalf("%s: %v", pattern, err)
		}
		if got := n.name(at); got != want {
			t.Errorf("%s: %s, want %s", pattern, got, want)
		}
		if got := n.name(at.Add(40 * 24 * time.Hour)); n.dated() && got == want {
			t.Errorf("%s: next day still %s (stale cache)", pattern, got)
		}
	}
	for _, bad := range []string{"", "Caps", "a,b", "x-%{+yyyy", "x-%{+ss}", "x-%{+yyyy}-%{+MM}"} {
		if _, err := newIndexNamer(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
