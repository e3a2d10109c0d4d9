package edge

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/icon-edge/icon-edge/ratelimit"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/icon-edge/icon-edge/wsbridge"
	"github.com/prometheus/client_golang/prometheus"
)

// channels lists the channels the bridge accepts: the configured one, or any
// (nil) when the edge does not name one.
func channels(c string) []string {
	if c == "" {
		return nil
	}
	return []string{c}
}

func newBridge(cfg Config, pool *upstream.Pool, reg prometheus.Registerer, log *slog.Logger, lim *ratelimit.Limiter) (*wsbridge.Bridge, error) {
	w := cfg.WebSocket
	bc := wsbridge.Config{
		DefaultChannel: cfg.Channel, Channels: channels(cfg.Channel), MaxConnections: w.MaxConnections, MaxConnsPerIP: w.MaxConnsPerIP,
		MaxMessageSize: w.MaxMessageSize, MaxSubscriptionsPerConn: w.MaxSubscriptionsPerConn, SendQueue: w.SendQueue,
		PingInterval: w.PingInterval, IdleTimeout: w.IdleTimeout,
		MaxSessionsPerNode: w.MaxSessionsPerNode, MaxFilterSetsPerIP: w.MaxFilterSetsPerIP, MaxFilterSets: w.MaxFilterSets,
	}
	if lim != nil {
		// Per-IP websocket limits must count clients, not the proxy in front.
		bc.ClientIP = func(r *http.Request) string {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			peer, _ := netip.ParseAddr(host)
			ip := lim.ClientIP(peer.Unmap(), func(name string) []byte { return []byte(strings.Join(r.Header.Values(name), ", ")) })
			return lim.Identify(ip, nil).Addr.String() // IPv6 grouped by prefix, as the limiter counts

		}
	}
	return wsbridge.New(bc, pool, reg, log)
}
