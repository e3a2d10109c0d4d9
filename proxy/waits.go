package proxy

import (
	"net/netip"
	"strconv"
	"sync"

	"github.com/icon-edge/icon-edge/icon"
)

// waitGuard bounds the wait calls (icx_waitTransactionResult,
// icx_sendTransactionAndWait) one client may hold open at once: each holds a
// node connection for seconds, so without a bound one client could take
// every node's connections. Its memory is bounded by the open waits.
type waitGuard struct {
	max  int
	mu   sync.Mutex
	open map[netip.Addr]int
}

func newWaitGuard(max int) *waitGuard {
	if max <= 0 {
		return nil
	}
	return &waitGuard{max: max, open: map[netip.Addr]int{}}
}

// acquire takes one of client's wait slots; false when all are in use.
func (g *waitGuard) acquire(client netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open[client] >= g.max {
		return false
	}
	g.open[client]++
	return true
}

func (g *waitGuard) release(client netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open[client] <= 1 {
		delete(g.open, client)
		return
	}
	g.open[client]--
}

func errTooManyWaits(max int) *icon.Error {
	return icon.NewError(icon.CodeServerError, "ServerError: too many waiting calls from this client; at most "+
		strconv.Itoa(max)+" at once")
}

// errNodesBusyWaiting: every eligible node holds its share of waiting calls.
var errNodesBusyWaiting = icon.NewError(icon.CodeServerError, "ServerError: the nodes hold their maximum of waiting calls; retry later")

// client is the request's client address, resolved once per request (it
// reads headers, which must happen before any batch goroutine starts).
func (s *Server) client(x *exchange) netip.Addr {
	if !x.clientKnown {
		x.clientAddr, x.clientKnown = s.clientIP(x.ctx), true
	}
	return x.clientAddr
}
