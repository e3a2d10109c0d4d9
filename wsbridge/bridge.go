// Package wsbridge relays goloop's websocket subscriptions (/block, /event)
// through the edge: clients with the same filters share one upstream session
// per hub, sessions fail over between nodes without gaps or duplicates, and
// slow clients are cut off instead of slowing others. See docs/wsbridge.md.
package wsbridge

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Bridge serves the websocket endpoints.
type Bridge struct {
	// cfg is the configuration the bridge was built with; conns holds the
	// per-connection limits a reload may change (Reconfigure).
	cfg   Config
	conns atomic.Pointer[Config]
	pool  *upstream.Pool
	log   *slog.Logger

	metrics      metrics
	upgrader     websocket.Upgrader
	wpool        *sync.Pool
	backlogSlots chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	hubs    map[string]*hub
	feeds   map[string][]*feed // by channel
	keyRefs map[string]int     // admitted clients per hub key
	ipSets  map[string]map[string]int
	perIP   map[string]int
	open    int
	clients map[*client]struct{}
	closed  bool
	slots   nodeSlots

	fan *fanout

	// relayObserver, when set (benchmarks), sees each notification's time
	// from arrival at the bridge to its write to a client.
	relayObserver func(time.Duration)
}

type metrics struct {
	conns, upstreamSessions        prometheus.Gauge
	relayed, resubscriptions, slow prometheus.Counter
	refused                        *prometheus.CounterVec
}

// New builds a bridge over pool; metrics register on reg (nil: not registered).
func New(cfg Config, pool *upstream.Pool, reg prometheus.Registerer, log *slog.Logger) (*Bridge, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bridge{cfg: cfg, pool: pool, log: log, ctx: ctx, cancel: cancel,
		wpool:        &sync.Pool{},
		backlogSlots: make(chan struct{}, cfg.MaxBacklogSessions),
		hubs:         map[string]*hub{}, feeds: map[string][]*feed{}, keyRefs: map[string]int{},
		ipSets: map[string]map[string]int{}, perIP: map[string]int{}, clients: map[*client]struct{}{},
		slots: nodeSlots{open: map[string]int{}, max: cfg.MaxSessionsPerNode, reserve: cfg.blockReserve()}}
	b.metrics = metrics{
		conns: prometheus.NewGauge(prometheus.GaugeOpts{Name: "icon_edge_ws_connections",
			Help: "Open client websocket connections."}),
		upstreamSessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "icon_edge_ws_upstream_sessions",
			Help: "Open websocket sessions to upstream nodes (shared hubs and backlog catch-ups)."}),
		relayed: prometheus.NewCounter(prometheus.CounterOpts{Name: "icon_edge_ws_messages_relayed_total",
			Help: "Notifications written to clients."}),
		resubscriptions: prometheus.NewCounter(prometheus.CounterOpts{Name: "icon_edge_ws_upstream_resubscriptions_total",
			Help: "Upstream subscriptions reopened on a node after the previous one broke or fell behind."}),
		slow: prometheus.NewCounter(prometheus.CounterOpts{Name: "icon_edge_ws_slow_client_disconnects_total",
			Help: "Clients disconnected because their send buffer was full."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "icon_edge_ws_subscriptions_refused_total",
			Help: "Subscriptions answered -31005 \"too many monitor\", by limit: filter_sets_per_ip, filter_sets, sessions."},
			[]string{"reason"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{b.metrics.conns, b.metrics.upstreamSessions, b.metrics.relayed,
			b.metrics.resubscriptions, b.metrics.slow, b.metrics.refused} {
			if err := reg.Register(c); err != nil {
				cancel()
				return nil, err
			}
		}
	}
	b.upgrader = websocket.Upgrader{
		// Small buffers: the read side only sees tiny client messages, and
		// notifications never pass gorilla's write buffer (fanout.go); the
		// handshake's few writes borrow one from the pool.
		ReadBufferSize: 512, WriteBufferPool: b.wpool,
		HandshakeTimeout: 10 * time.Second,
		CheckOrigin:      func(*http.Request) bool { return true }, // dApps connect from any origin, as to goloop
	}
	b.fan = newFanout(b)
	b.conns.Store(&cfg)
	return b, nil
}

// Reconfigure applies reloaded limits to the connections that open from now
// on: MaxConnections and MaxConnsPerIP (counted against every open
// connection), MaxFilterSetsPerIP and MaxFilterSets (against every open
// subscription), MaxMessageSize, MaxSubscriptionsPerConn, SendQueue,
// FirstMessageTimeout, PingInterval, IdleTimeout, WriteTimeout and
// SocketSendBuffer. Open connections keep the limits they were accepted
// with. The rest is fixed at New (channels, node session slots, hub history
// and linger, backlog sessions, upstream timings, ClientIP): only a restart
// changes it.
func (b *Bridge) Reconfigure(cfg Config) error {
	cfg.DefaultChannel, cfg.Channels, cfg.ClientIP = b.cfg.DefaultChannel, b.cfg.Channels, b.cfg.ClientIP
	cfg.History, cfg.HubLinger, cfg.MaxBacklogSessions = b.cfg.History, b.cfg.HubLinger, b.cfg.MaxBacklogSessions
	cfg.UpstreamStallTimeout, cfg.SyncCheckInterval, cfg.DialTimeout = b.cfg.UpstreamStallTimeout, b.cfg.SyncCheckInterval, b.cfg.DialTimeout
	cfg.MaxSessionsPerNode = b.cfg.MaxSessionsPerNode
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	b.conns.Store(&cfg)
	return nil
}

// route maps a path to (channel, kind); status != 0 is goloop's HTTP answer.
func (b *Bridge) route(path string) (channel, kind string, status int, text string) {
	rest, ok := strings.CutPrefix(path, "/api/v3/")
	if !ok {
		return "", "", http.StatusNotFound, "Not Found <nil>"
	}
	segs := strings.Split(rest, "/")
	if len(segs) == 3 && segs[2] == "" { // a trailing slash is the same resource
		segs = segs[:2]
	}
	if len(segs) != 2 || (segs[1] != "block" && segs[1] != "event") {
		return "", "", http.StatusNotFound, "Not Found <nil>"
	}
	channel = segs[0]
	if channel == "" {
		channel = b.cfg.DefaultChannel
	}
	if channel != "" && len(b.cfg.Channels) > 0 && !slices.Contains(b.cfg.Channels, channel) {
		return "", "", http.StatusNotFound, "No channel"
	}
	return channel, segs[1], 0, ""
}

// ServeHTTP serves one websocket client (net/http).
func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	channel, kind, status, text := b.route(r.URL.Path)
	if status == 0 && r.Method != http.MethodGet {
		status, text = http.StatusNotFound, "Not Found <nil>"
	}
	if status != 0 {
		http.Error(w, text, status)
		return
	}
	ip := b.cfg.ClientIP(r)
	lim := b.conns.Load()
	conn, err := b.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered 400, as goloop does
	}
	b.serveConn(conn, ip, channel, kind, lim)
}

// serveConn serves one upgraded websocket until it closes: admission, the
// first message, a hub, then reading (the writes are its worker's). lim are
// the per-connection limits in force when it connected.
func (b *Bridge) serveConn(conn *websocket.Conn, ip, channel, kind string, lim *Config) {
	defer conn.NetConn().Close()
	if reason := b.admit(ip, lim); reason != "" {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseTryAgainLater, reason),
			time.Now().Add(time.Second))
		return
	}
	defer b.release(ip)
	b.metrics.conns.Inc()
	defer b.metrics.conns.Dec()
	if lim.SocketSendBuffer > 0 {
		if tc, ok := conn.NetConn().(interface{ SetWriteBuffer(int) error }); ok {
			_ = tc.SetWriteBuffer(lim.SocketSendBuffer)
		}
	}
	sub, ok := b.handshake(conn, kind, lim)
	if !ok {
		return
	}
	h, refused := b.subscribe(ip, channel, sub)
	if h == nil {
		// goloop's answer when it has no session left: the error, then the
		// socket drops without a close frame.
		b.metrics.refused.WithLabelValues(refused).Inc()
		_ = conn.WriteJSON(errTooManyMonitor)
		return
	}
	defer b.unsubscribe(ip, channel, sub)
	if conn.WriteJSON(wsError{Code: 0}) != nil {
		return
	}
	// The handshake's write bound (gorilla put it on the socket) ends with
	// the handshake: the worker's writes do not block, and a passed deadline
	// would fail every one of them.
	_ = conn.NetConn().SetWriteDeadline(time.Time{})
	// From here on only the client's worker writes to the socket.
	c := newClient(b, conn, sub, lim)
	b.fan.assign(c)
	if !b.register(c) {
		c.kick(websocket.CloseGoingAway, "server shutting down")
	}
	for {
		ok, closed := h.attach(c)
		if ok {
			break
		}
		if !closed {
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				c.catchUp(b.ctx, channel, h)
			}()
			break
		}
		h = b.hubFor(sub, channel, sub.height)
	}
	c.readLoop()
	c.kick(0, "") // no-op when something already ended it
	<-c.gone
	if h := c.hub.Load(); h != nil {
		h.detach(c)
	}
	b.unregister(c)
}

// handshake reads the client's first message and answers a bad one as
// goloop does: its error object, then the socket drops without a close
// frame. A good one is answered {"code":0} once a hub is found for it.
func (b *Bridge) handshake(conn *websocket.Conn, kind string, lim *Config) (*subscription, bool) {
	// No gorilla read limit: it would close with an empty reason. Messages
	// are read only up to MaxMessageSize+1 bytes here and in readLoop.
	_ = conn.SetReadDeadline(time.Now().Add(lim.FirstMessageTimeout))
	_, r, err := conn.NextReader()
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "no subscription request in time"),
				time.Now().Add(time.Second))
		}
		return nil, false
	}
	msg := make([]byte, 0, 256)
	buf := make([]byte, 512)
	for int64(len(msg)) <= lim.MaxMessageSize {
		n, err := r.Read(buf)
		msg = append(msg, buf[:n]...)
		if err != nil {
			break
		}
	}
	if int64(len(msg)) > lim.MaxMessageSize {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseMessageTooBig, "message too big"), time.Now().Add(time.Second))
		return nil, false
	}
	_ = conn.SetWriteDeadline(time.Now().Add(lim.WriteTimeout))
	sub, werr := parseRequest(msg, kind)
	if werr != nil {
		_ = conn.WriteJSON(werr)
		return nil, false
	}
	return sub, true
}

func (b *Bridge) admit(ip string, lim *Config) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return "server shutting down"
	}
	if lim.MaxConnections > 0 && b.open >= lim.MaxConnections {
		return "too many connections"
	}
	if b.perIP[ip] >= lim.MaxConnsPerIP {
		return "too many connections from this address"
	}
	b.perIP[ip]++
	b.open++
	return ""
}

func (b *Bridge) release(ip string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open--
	if b.perIP[ip]--; b.perIP[ip] <= 0 {
		delete(b.perIP, ip)
	}
}

func (b *Bridge) register(c *client) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.clients[c] = struct{}{}
	return !b.closed
}

func (b *Bridge) unregister(c *client) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.clients, c)
}

// Close closes every client (1001) and upstream session.
func (b *Bridge) Close() error {
	b.mu.Lock()
	b.closed = true
	cs := make([]*client, 0, len(b.clients))
	for c := range b.clients {
		cs = append(cs, c)
	}
	b.mu.Unlock()
	for _, c := range cs {
		c.kick(websocket.CloseGoingAway, "server shutting down")
	}
	b.cancel()
	// The workers write the close frames; wait (bounded) for the sockets.
	deadline := time.After(5 * time.Second)
	for _, c := range cs {
		select {
		case <-c.gone:
		case <-deadline:
		}
	}
	b.fan.close()
	b.wg.Wait()
	return nil
}
