package proxy

import (
	"errors"
	"github.com/icon-edge/icon-edge/internal/rawjson"

	"github.com/icon-edge/icon-edge/cache"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/valyala/bytebufferpool"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// The cache stage: answers that can never change (or cannot change before
// the next block) come from the cache; identical reads in flight share one
// node request.

// appendCacheKey scopes a call's cache key by path, so channels never share answers.
func appendCacheKey(dst, path []byte, c *call) []byte {
	dst = append(dst, path...)
	dst = append(dst, 0)
	return cache.AppendKey(dst, c.method.Name, c.params)
}

// scratch buffers for keys and answers on the cache-hit path, which must not
// allocate per request (the cache copies what it keeps; SetBody copies too).
var scratch bytebufferpool.Pool

// errNotRPC carries a node answer that is not a JSON-RPC object (e.g. a
// plain-text 404 "No channel") to every coalesced waiter unchanged.
type errNotRPC struct {
	status      int
	contentType string
	body        []byte
}

func (e *errNotRPC) Error() string { return "not a JSON-RPC answer" }

// cacheable classifies c and notes its key; false when its answer may not be
// kept (or its bytes could not be keyed without loss).
func (s *Server) cacheable(x *exchange, c *call, tip int64) bool {
	c.cacheKind = x.st.cache.Classify(c.method.Name, c.params, tip)
	if c.cacheKind == cache.NoCache || hasSurrogateEscape(c.raw) {
		c.cacheKind = cache.NoCache
		return false
	}
	if c.cacheKind == cache.Head {
		// A head answer is shared until the next block: only a node at the
		// tip may give it, not one that is merely within max_lag.
		c.need.MinHeight = max(c.need.MinHeight, tip)
	}
	return true
}

// serveCached answers a single read from the cache, or joins/leads the one
// node request for identical in-flight reads. It returns false when the call
// is not cacheable and must take the normal route.
func (s *Server) serveCached(x *exchange, c *call) bool {
	tip := s.pool.Tip()
	if !s.cacheable(x, c, tip) {
		return false
	}
	kb := scratch.Get()
	defer scratch.Put(kb)
	kb.B = appendCacheKey(kb.B[:0], x.ctx.Path(), c)
	key := kb.B
	ch := x.st.cache
	if res, ok := ch.Get(key, tip); ok {
		c.cacheHit = true
		s.answerCached(x, c, fasthttp.StatusOK, cache.Answer{Result: res})
		return true
	}
	led := false // this caller made the node request; the others waited for it
	ans, _, err := ch.Do(key, c.method.Name, c.cacheKind, tip, func() (cache.Answer, error) {
		led = true
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		s.forward(x, c, x.body, resp)
		return answerOf(resp)
	})
	c.cacheHit = !led
	var raw *errNotRPC
	if errors.As(err, &raw) {
		resp := &x.ctx.Response
		resp.SetStatusCode(raw.status)
		resp.Header.SetContentType(raw.contentType)
		resp.SetBody(raw.body)
		s.relay(x) // counted under its HTTP status, like any non-JSON-RPC answer
		return true
	}
	s.answerCached(x, c, ans.Status, ans)
	return true
}

// answerCached writes a cached (or coalesced) answer with this call's id.
func (s *Server) answerCached(x *exchange, c *call, status int, ans cache.Answer) {
	c.code = 0
	if ans.Error != nil {
		c.code = fastjson.GetInt(ans.Error, "code")
	}
	buf := scratch.Get()
	defer scratch.Put(buf)
	buf.B = ans.AppendTo(buf.B[:0], c.id)
	writeJSON(&x.ctx.Response, status, buf.B)
	s.finish(x, status)
}

// answerOf splits a node's single answer into the id-free parts the cache
// keeps; the slices are fresh copies, as coalesced waiters share them.
func answerOf(resp *fasthttp.Response) (cache.Answer, error) {
	body := resp.Body()
	if res := rawjson.Get(body, "result"); res != nil {
		return cache.Answer{Result: append([]byte(nil), res...), Status: resp.StatusCode()}, nil
	}
	if e := rawjson.Get(body, "error"); e != nil {
		return cache.Answer{Error: append([]byte(nil), e...), Status: resp.StatusCode()}, nil
	}
	return cache.Answer{}, &errNotRPC{status: resp.StatusCode(), contentType: string(resp.Header.ContentType()),
		body: append([]byte(nil), body...)}
}

// cachedBatchItem answers a batch read from the cache when it can; otherwise
// it notes the key so the answer can be stored once a node has given it.
func (s *Server) cachedBatchItem(x *exchange, c *call, tip int64) bool {
	if !s.cacheable(x, c, tip) {
		return false
	}
	c.cacheKey = appendCacheKey(nil, x.ctx.Path(), c)
	res, ok := x.st.cache.Get(c.cacheKey, tip)
	if !ok {
		return false
	}
	c.answer = icon.AppendResponseResult(nil, c.id, res)
	c.cacheHit = true
	return true
}

// storeBatchAnswers keeps the answers of cacheable batch items that a node gave.
func (s *Server) storeBatchAnswers(x *exchange, tip int64) {
	for i := range x.calls {
		c := &x.calls[i]
		if c.cacheKey == nil || c.cacheHit || c.code != 0 {
			continue
		}
		if res := rawjson.Get(c.answer, "result"); res != nil {
			x.st.cache.Put(c.cacheKey, c.method.Name, c.cacheKind, tip, res)
		}
	}
}

// sharedBatchItems asks the cache's second level (the region's Redis, when
// configured) in one round trip for the batch reads that missed locally, and
// returns those still to be sent to a node.
func sharedBatchItems(ch *cache.Cache, reads []*call, tip int64) []*call {
	if !ch.HasShared() {
		return reads
	}
	keys, methods, kinds := make([][]byte, len(reads)), make([]string, len(reads)), make([]cache.Kind, len(reads))
	for i, c := range reads {
		keys[i], methods[i], kinds[i] = c.cacheKey, c.method.Name, c.cacheKind
	}
	got := ch.GetShared(keys, methods, kinds, tip)
	left := reads[:0]
	for i, c := range reads {
		if got[i] != nil {
			c.answer = icon.AppendResponseResult(nil, c.id, got[i])
			c.cacheHit = true
			continue
		}
		left = append(left, c)
	}
	return left
}
