package edge

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/wsbridge"
)

// channels lists the channels the bridge accepts: the configured one, or any
// (nil) when the edge does not name one.
func channels(c string) []string {
	if c == "" {
		return nil
	}
	return []string{c}
}

// bridgeConfig is the websocket bridge's configuration under cfg; clientIP
// names the address a connection counts against.
func bridgeConfig(cfg Config, clientIP func(*http.Request) string) wsbridge.Config {
	w := cfg.WebSocket
	return wsbridge.Config{
		DefaultChannel: cfg.Channel, Channels: channels(cfg.Channel), MaxConnections: w.MaxConnections, MaxConnsPerIP: w.MaxConnsPerIP,
		MaxMessageSize: w.MaxMessageSize, MaxSubscriptionsPerConn: w.MaxSubscriptionsPerConn, SendQueue: w.SendQueue,
		PingInterval: w.PingInterval, IdleTimeout: w.IdleTimeout, ClientIP: clientIP,
		MaxSessionsPerNode: w.MaxSessionsPerNode, MaxFilterSetsPerIP: w.MaxFilterSetsPerIP, MaxFilterSets: w.MaxFilterSets,
	}
}

// clientIP is a websocket client's address as the limiter in force counts
// it: the one a trusted proxy names, IPv6 grouped by prefix. Without limits
// it is the socket peer.
func (e *Edge) clientIP(r *http.Request) string {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	peer, _ := netip.ParseAddr(host)
	var lim *ratelimit.Limiter
	if e.proxy != nil {
		lim = e.proxy.Limiter()
	}
	if lim == nil {
		return peer.Unmap().String()
	}
	ip := lim.ClientIP(peer.Unmap(), func(name string) []byte { return []byte(strings.Join(r.Header.Values(name), ", ")) })
	return lim.Identify(ip, nil).Addr.String()
}
