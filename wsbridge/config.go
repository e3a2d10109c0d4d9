package wsbridge

import (
	"errors"
	"net"
	"net/http"
	"time"
)

// Config holds the bridge's limits. Zero values take the defaults below.
type Config struct {
	// DefaultChannel is the channel an empty channel segment (/api/v3//block)
	// means; it lets those clients share hubs with /api/v3/{DefaultChannel}/block.
	// Empty: the empty segment is forwarded as is (the node picks its default).
	DefaultChannel string
	// Channels, when set, are the only channels accepted; others get goloop's
	// 404 "No channel" before the upgrade.
	Channels []string

	// MaxConnections bounds open client websockets in total (0: unlimited).
	MaxConnections int
	// MaxConnsPerIP bounds open client websockets per client address. Default 64.
	MaxConnsPerIP int
	// MaxMessageSize is the largest client message accepted (goloop: 16 KiB).
	MaxMessageSize int64
	// MaxSubscriptionsPerConn bounds subscription requests per connection. The
	// goloop protocol streams only the first one and ignores later messages;
	// so does the bridge, until a client sends more than this many in total,
	// when it is closed (1008). Default 16.
	MaxSubscriptionsPerConn int
	// SendQueue is each client's bounded send buffer, in notifications. A live
	// client whose buffer is full is disconnected (1008) so it never slows the
	// others. Default 256.
	SendQueue int
	// FirstMessageTimeout is how long a client may take to send its request.
	FirstMessageTimeout time.Duration
	// PingInterval is how often the bridge pings clients (goloop never does).
	PingInterval time.Duration
	// IdleTimeout closes a client from which nothing (not even a pong) arrived
	// for this long. Must exceed PingInterval. Default 2×PingInterval+10s.
	IdleTimeout time.Duration
	// WriteTimeout bounds one write to a client.
	WriteTimeout time.Duration
	// SocketSendBuffer, when > 0, sets SO_SNDBUF of client sockets: a smaller
	// kernel buffer makes a stuck client show up sooner and costs less memory.
	SocketSendBuffer int

	// History is how many recent notifications each hub keeps so that clients
	// asking for a recent height join it without an own upstream session.
	// Default 1024.
	History int
	// HubLinger keeps a hub's upstream session open this long after its last
	// client left, so reconnecting clients do not churn node sessions. Default 5s.
	HubLinger time.Duration
	// MaxSessionsPerNode bounds the upstream sessions the bridge opens on one
	// node, below the node's own limit (goloop: 10), so other users of the
	// node keep some. Of these, one per channel (at least one) is kept for
	// the plain /block hubs. Default 8.
	MaxSessionsPerNode int
	// MaxFilterSetsPerIP bounds the distinct subscriptions (filter sets;
	// plain /block is not one) a client address holds at once; past it the
	// client gets goloop's -31005 "too many monitor". Default 8.
	MaxFilterSetsPerIP int
	// MaxFilterSets bounds distinct filter sets in total. Event filters the
	// bridge can match itself share upstream sessions (up to 64 filters
	// each); others take a session each, and subscriptions that would need
	// more sessions than the nodes allow are refused with -31005. Default 512.
	MaxFilterSets int
	// MaxBacklogSessions bounds upstream sessions that serve clients asking for
	// heights older than the hubs' history (goloop nodes allow 10 sessions).
	// Further such clients wait for a slot. Default 4.
	MaxBacklogSessions int
	// UpstreamStallTimeout resubscribes elsewhere when a node sends nothing for
	// this long (blocks, and event progress, arrive every block). Default 15s.
	UpstreamStallTimeout time.Duration
	// SyncCheckInterval is how often an upstream session checks that its node
	// is still in sync with the pool's tip. Default 500ms.
	SyncCheckInterval time.Duration
	// DialTimeout bounds the upstream websocket handshake. Default 5s.
	DialTimeout time.Duration

	// ClientIP returns the address a connection counts against; default: the
	// host of r.RemoteAddr. The edge passes its trusted-proxy aware function.
	ClientIP func(r *http.Request) string
}

// DefaultConfig is the bridge's configuration when nothing is set (no
// channel restriction, no connection total, the default ClientIP).
func DefaultConfig() Config {
	var c Config
	_ = c.setDefaults() // cannot fail on zero values
	c.ClientIP = nil
	return c
}

func (c *Config) setDefaults() error {
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = 64
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 16 << 10
	}
	if c.MaxSubscriptionsPerConn <= 0 {
		c.MaxSubscriptionsPerConn = 16
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 256
	}
	if c.FirstMessageTimeout <= 0 {
		c.FirstMessageTimeout = 30 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2*c.PingInterval + 10*time.Second
	}
	if c.IdleTimeout <= c.PingInterval {
		return errors.New("wsbridge: IdleTimeout must exceed PingInterval")
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.History <= 0 {
		c.History = 1024
	}
	if c.HubLinger <= 0 {
		c.HubLinger = 5 * time.Second
	}
	if c.MaxBacklogSessions <= 0 {
		c.MaxBacklogSessions = 4
	}
	if c.MaxSessionsPerNode <= 0 {
		c.MaxSessionsPerNode = 8
	}
	if c.MaxSessionsPerNode <= c.blockReserve() {
		return errors.New("wsbridge: MaxSessionsPerNode must exceed the sessions kept for /block (one per channel)")
	}
	if c.MaxFilterSetsPerIP <= 0 {
		c.MaxFilterSetsPerIP = 8
	}
	if c.MaxFilterSets <= 0 {
		c.MaxFilterSets = 512
	}
	if c.UpstreamStallTimeout <= 0 {
		c.UpstreamStallTimeout = 15 * time.Second
	}
	if c.SyncCheckInterval <= 0 {
		c.SyncCheckInterval = 500 * time.Millisecond
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.ClientIP == nil {
		c.ClientIP = func(r *http.Request) string {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				return r.RemoteAddr
			}
			return host
		}
	}
	return nil
}

// blockReserve is how many of each node's sessions only plain /block hubs
// may use: one per channel they can be on.
func (c *Config) blockReserve() int { return max(len(c.Channels), 1) }
