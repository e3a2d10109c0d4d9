package ratelimit

import (
	"bytes"
	"net/netip"
	"strings"
)

// ClientIP returns the address to charge a request to. peer is the socket's
// remote address (with fasthttp: netip.AddrFromSlice(ctx.RemoteIP())).
// Proxy headers are believed only when peer is a trusted proxy; otherwise
// anyone could pick the address they are limited as. header returns a
// request header's value (nil when absent), e.g. ctx.Request.Header.Peek.
//
// From a trusted peer, the first of ProxyHeaders present decides: a
// single-address header (CF-Connecting-IP) is taken as is; X-Forwarded-For
// is read from the right, skipping trusted proxies, and the first address
// not in TrustedProxies is the client. A malformed value stops the walk at
// the last hop that could be believed.
func (l *Limiter) ClientIP(peer netip.Addr, header func(name string) []byte) netip.Addr {
	peer = peer.Unmap()
	if len(l.trusted) == 0 || !contains(l.trusted, peer) || header == nil {
		return peer
	}
	for _, name := range l.headers {
		v := bytes.TrimSpace(header(name))
		if len(v) == 0 {
			continue
		}
		if strings.EqualFold(name, "X-Forwarded-For") {
			return l.fromForwardedFor(v, peer)
		}
		// Only Cloudflare sets CF-Connecting-IP; any other trusted proxy may
		// pass a client's own copy of it through unchanged.
		if strings.EqualFold(name, "CF-Connecting-IP") && !contains(cloudflarePrefixes, peer) {
			continue
		}
		if a, ok := parseHop(v); ok {
			return a
		}
		return peer
	}
	return peer
}

// cloudflarePrefixes is CloudflareIPRanges, parsed once.
var cloudflarePrefixes = func() []netip.Prefix {
	p, err := parsePrefixes("CloudflareIPRanges", CloudflareIPRanges)
	if err != nil {
		panic(err) // a typo in a constant list: caught by every test run
	}
	return p
}()

func (l *Limiter) fromForwardedFor(v []byte, peer netip.Addr) netip.Addr {
	last := peer
	for len(v) > 0 {
		i := bytes.LastIndexByte(v, ',')
		hop := bytes.TrimSpace(v[i+1:])
		if i < 0 {
			v = nil
		} else {
			v = v[:i]
		}
		a, ok := parseHop(hop)
		if !ok {
			return last
		}
		if !contains(l.trusted, a) {
			return a
		}
		last = a
	}
	return last
}

// parseHop reads an address as proxies write it: bare, or with a port
// ("1.2.3.4:5678", "[2001:db8::1]:443"). Zones are refused: they mean
// nothing off the local link.
func parseHop(b []byte) (netip.Addr, bool) {
	if len(b) == 0 || len(b) > 64 {
		return netip.Addr{}, false
	}
	s := string(b)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		if err2 != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
