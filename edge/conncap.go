package edge

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connCap bounds open connections per client address (IPv6: per prefix, as
// the rate limiter groups them). It replaces fasthttp's MaxConnsPerIP, which
// counts every IPv6 client as one and cannot exempt the trusted proxies
// (Cloudflare, a load balancer) that carry many clients each: their clients
// are told apart and limited by the rate limiter instead. Websockets count
// until the bridge closes them.
type connCap struct {
	net.Listener
	max     int
	v6Bits  int
	exempt  []netip.Prefix
	refused prometheus.Counter

	mu    sync.Mutex
	count map[netip.Addr]int
}

// tooManyConns is what a refused connection reads before it is closed.
const tooManyConns = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=UTF-8\r\n" +
	"Connection: close\r\nContent-Length: 39\r\nRetry-After: 1\r\n\r\ntoo many connections from this address\n"

func newConnCap(ln net.Listener, max, v6Bits int, exempt []netip.Prefix, reg prometheus.Registerer) *connCap {
	c := &connCap{Listener: ln, max: max, v6Bits: v6Bits, exempt: exempt, count: map[netip.Addr]int{}}
	c.refused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "icon_edge_connections_refused_total",
		Help: "Client connections refused with 429 because their address already had limits.max_conns_per_ip open.",
	})
	reg.MustRegister(c.refused)
	return c
}

// Accept returns the next connection within the cap; those over it are
// answered 429 and closed without reaching the server.
func (c *connCap) Accept() (net.Conn, error) {
	for {
		conn, err := c.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, counted := c.key(conn.RemoteAddr())
		if !counted {
			return conn, nil
		}
		c.mu.Lock()
		ok := c.count[key] < c.max
		if ok {
			c.count[key]++
		}
		c.mu.Unlock()
		if ok {
			return &cappedConn{socketConn: socketConn{conn}, cap: c, key: key}, nil
		}
		c.refused.Inc()
		go func() {
			// A client that does not read must not hold the goroutine.
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = conn.Write([]byte(tooManyConns))
			_ = conn.Close()
		}()
	}
}

// key is the address a connection counts against; false for exempt peers.
func (c *connCap) key(a net.Addr) (netip.Addr, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	ip, _ := netip.AddrFromSlice(ta.IP)
	ip = ip.Unmap()
	for _, p := range c.exempt {
		if p.Contains(ip) {
			return netip.Addr{}, false
		}
	}
	if ip.Is6() && c.v6Bits < 128 {
		if p, err := ip.Prefix(c.v6Bits); err == nil {
			ip = p.Addr()
		}
	}
	return ip, true
}

func (c *connCap) release(key netip.Addr) {
	c.mu.Lock()
	if c.count[key]--; c.count[key] <= 0 {
		delete(c.count, key)
	}
	c.mu.Unlock()
}

// cappedConn gives its slot back once, however often it is closed (the edge's
// error path and fasthttp may both close it).
type cappedConn struct {
	socketConn
	cap  *connCap
	key  netip.Addr
	once sync.Once
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.cap.release(c.key) })
	return err
}

// socketConn is embedded by the listener's connection wrappers so the
// socket stays reachable through them: the websocket bridge's fan-out
// writes to it itself (SyscallConn, wsbridge/fanout.go) and shrinks
// subscribers' send buffers (SetWriteBuffer).
type socketConn struct{ net.Conn }

func (c socketConn) SetWriteBuffer(n int) error {
	if tc, ok := c.Conn.(interface{ SetWriteBuffer(int) error }); ok {
		return tc.SetWriteBuffer(n)
	}
	return nil
}

func (c socketConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("not a socket")
}

// capConns wraps the public listener with the per-address cap when one is set.
func (e *Edge) capConns(ln net.Listener) net.Listener {
	max := e.cfg.Limits.MaxConnsPerIP
	if max <= 0 {
		return ln
	}
	v6Bits := 64
	var exempt []netip.Prefix
	if rl := e.cfg.RateLimit; rl != nil {
		if rl.IPv6PrefixLen > 0 {
			v6Bits = rl.IPv6PrefixLen
		}
		for _, s := range rl.TrustedProxies {
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				a, aerr := netip.ParseAddr(strings.TrimSpace(s))
				if aerr != nil {
					continue // the limiter has already refused a bad entry
				}
				p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
			}
			exempt = append(exempt, p.Masked())
		}
	}
	return newConnCap(ln, max, v6Bits, exempt, e.registry)
}
