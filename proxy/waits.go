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
// every node's connections. Its memory is bounded by the open waits. The
// bound comes with each call (limits.max_waits_per_client as the call's
// settings say), so a reload changes it without forgetting the open waits.
type waitGuard struct {
	mu   sync.Mutex
	open map[netip.Addr]int
}

// acquire takes one of client's wait slots under a bound of max (<= 0: no
// bound, nothing counted). ok is false when all slots are in use; counted
// says whether release must be called.
func (g *waitGuard) acquire(client netip.Addr, max int) (ok, counted bool) {
	if max <= 0 {
		return true, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open[client] >= max {
		return false, false
	}
	g.open[client]++
	return true, true
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
		x.clientAddr, x.clientKnown = clientIP(x.ctx, x.st.limiter), true
	}
	return x.clientAddr
}
