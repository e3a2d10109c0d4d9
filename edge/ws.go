package edge

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"

	"github.com/icon-edge/icon-edge/proxy"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/icon-edge/icon-edge/wsbridge"
	"github.com/prometheus/client_golang/prometheus"
)

func newBridge(cfg Config, pool *upstream.Pool, reg prometheus.Registerer, log *slog.Logger, ps *proxy.Server) (*wsbridge.Bridge, error) {
	w := cfg.WebSocket
	bc := wsbridge.Config{
		DefaultChannel: cfg.Channel, MaxConnections: w.MaxConnections, MaxConnsPerIP: w.MaxConnsPerIP,
		MaxMessageSize: w.MaxMessageSize, MaxSubscriptionsPerConn: w.MaxSubscriptionsPerConn, SendQueue: w.SendQueue,
		PingInterval: w.PingInterval, IdleTimeout: w.IdleTimeout,
	}
	if lim := ps.Limiter(); lim != nil {
		// Per-IP websocket limits must count clients, not the proxy in front.
		bc.ClientIP = func(r *http.Request) string {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			peer, _ := netip.ParseAddr(host)
			return lim.ClientIP(peer.Unmap(), func(name string) []byte { return []byte(r.Header.Get(name)) }).String()
		}
	}
	return wsbridge.New(bc, pool, reg, log)
}
