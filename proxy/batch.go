package proxy

import (
	"bytes"
	"runtime/debug"
	"sync"
	"time"

	"github.com/icon-edge/icon-edge/cache"
	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// serveBatch answers a batch as a batch with every id matched. Invalid items
// are answered at the edge; reads go to nodes in chunks of the nodes' batch
// limit, each chunk routed on its own; writes and wait methods go one by one,
// so a read retry can never resend a write and a long wait never holds up (or
// times out) a chunk of quick reads. Everything runs in parallel and answers
// are put back in the client's order.
func (s *Server) serveBatch(ctx *fasthttp.RequestCtx, v *fastjson.Value, body []byte, debugAPI bool, start time.Time) {
	items, _ := v.Array()
	switch {
	case len(items) == 0:
		s.rpcError(ctx, fasthttp.StatusBadRequest, nil, icon.ErrInvalidRequest)
		return
	case len(items) > s.cfg.MaxBatch:
		s.rpcError(ctx, fasthttp.StatusServiceUnavailable, nil, icon.ErrTooManyRequests)
		return
	}
	raw := rawElements(body)
	if len(raw) != len(items) { // cannot happen for JSON fastjson accepted; never guess
		s.rpcError(ctx, fasthttp.StatusBadRequest, nil, icon.ErrParse)
		return
	}
	calls := make([]call, len(items))
	var reads, singles []*call
	tip := s.pool.Tip()
	for i, it := range items {
		c := &calls[i]
		s.parseCall(it, debugAPI, c)
		c.raw = raw[i]
		switch {
		case c.err != nil:
			c.answer = icon.AppendResponseError(nil, c.id, c.err)
			c.code = c.err.Code
		case c.method.kind == routeWrite || c.method.wait && !c.notify:
			singles = append(singles, c)
		case !c.notify:
			if s.cachedBatchItem(ctx.Path(), c, tip) {
				continue
			}
			reads = append(reads, c)
		}
	}

	if !s.admit(ctx, calls, nil, start) {
		return
	}
	deadline := start.Add(s.cfg.RequestTimeout)
	// Node bodies are the client's own bytes, and deadlines come from the
	// client's headers: both are read here, before any goroutine starts.
	type job struct {
		calls []*call
		body  []byte
	}
	var jobs []job
	for off := 0; off < len(reads); off += s.cfg.NodeBatchLimit {
		chunk := reads[off:min(off+s.cfg.NodeBatchLimit, len(reads))]
		body := []byte{'['}
		for i, c := range chunk {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, c.raw...)
		}
		jobs = append(jobs, job{calls: chunk, body: append(body, ']')})
	}
	singleDeadlines := make([]time.Time, len(singles))
	for i, c := range singles {
		singleDeadlines[i] = s.deadline(ctx, c.method, start)
	}

	o := s.originOf(ctx)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			defer s.recoverCalls(j.calls...)
			s.sendChunk(o, j.calls, j.body, deadline)
		})
	}
	for i, c := range singles {
		wg.Go(func() {
			defer s.recoverCalls(c)
			s.sendBatchSingle(o, c, singleDeadlines[i])
		})
	}
	wg.Wait()
	if s.cache != nil {
		for _, c := range reads {
			if c.cacheKind != cache.NoCache && c.code == 0 {
				if res := rawMember(c.answer, "result"); res != nil {
					s.cache.Put(c.cacheKey, c.method.name, c.cacheKind, tip, res)
				}
			}
		}
	}

	out := make([]byte, 0, 256*len(calls))
	out = append(out, '[')
	answered := 0
	for i := range calls {
		c := &calls[i]
		if c.answer == nil {
			if c.method != nil && c.method.kind == routeWrite {
				s.record(ctx, c, fasthttp.StatusOK, start, 0) // executed, though nobody waits for it
			}
			continue // a notification: nobody waits for it
		}
		if answered > 0 {
			out = append(out, ',')
		}
		out = append(out, c.answer...)
		answered++
		s.record(ctx, c, fasthttp.StatusOK, start, len(c.answer))
	}
	if answered == 0 {
		ctx.SetStatusCode(fasthttp.StatusOK)
		s.metrics.httpStatus(fasthttp.StatusOK)
		return
	}
	s.writeJSON(ctx, fasthttp.StatusOK, append(out, ']'))
}

// recoverCalls turns a panic in a batch worker (outside the handler's own
// recover) into an internal error for its calls instead of a dead process.
func (s *Server) recoverCalls(calls ...*call) {
	if r := recover(); r != nil {
		s.log.Error("panic serving batch items; answered -32603", "panic", r, "stack", string(debug.Stack()))
		for _, c := range calls {
			c.answer, c.code = icon.AppendResponseError(nil, c.id, errInternal), errInternal.Code
		}
	}
}

// chunkMethod routes a node batch: it is retried like any read, but a -31004
// inside it is one item's answer, not a reason to resend the others.
var chunkMethod = &methodInfo{name: "batch", kind: routeLatest}

// sendChunk forwards up to NodeBatchLimit reads as one node batch, to a node
// that meets the strictest need among them.
func (s *Server) sendChunk(o origin, chunk []*call, body []byte, deadline time.Time) {
	need := upstream.Need{}
	for _, c := range chunk {
		need.Latest = need.Latest || c.need.Latest
		need.MinHeight = max(need.MinHeight, c.need.MinHeight)
	}
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	upstreamRequest(req, o, body)
	// The chunk travels as one read; its answers are split out below.
	lead := call{method: chunkMethod, need: need}
	s.sendRead(&lead, req, resp, deadline)
	s.splitChunkAnswer(chunk, resp, lead.upstream, lead.retries)
}

// splitChunkAnswer hands each call of a chunk its answer from the node's
// batch answer: by position when the node answered every item (goloop keeps
// order), by id otherwise. A node error for the whole batch (e.g. its own
// batch limit) becomes each item's answer.
func (s *Server) splitChunkAnswer(chunk []*call, resp *fasthttp.Response, node string, retries int) {
	var p fastjson.Parser
	v, err := p.ParseBytes(resp.Body())
	var answers []*fastjson.Value
	var raws [][]byte
	if err == nil && v.Type() == fastjson.TypeArray {
		answers, _ = v.Array()
		if raws = rawElements(resp.Body()); len(raws) != len(answers) {
			answers = nil
		}
	}
	for i, c := range chunk {
		c.upstream, c.retries = node, retries
		k := -1
		if len(answers) == len(chunk) && sameID(answers[i], c.id) {
			k = i
		} else {
			for j, cand := range answers {
				if sameID(cand, c.id) {
					k = j
					break
				}
			}
		}
		switch {
		case k >= 0:
			c.answer = append([]byte(nil), raws[k]...)
			c.code = answers[k].GetInt("error", "code")
		case err == nil && v.Type() == fastjson.TypeObject && v.Get("error") != nil:
			e := &icon.Error{Code: v.GetInt("error", "code"), Message: string(v.GetStringBytes("error", "message"))}
			if d := v.Get("error", "data"); d != nil {
				e.Data = d.MarshalTo(nil)
			}
			c.answer, c.code = icon.AppendResponseError(nil, c.id, e), e.Code
		default:
			c.answer, c.code = icon.AppendResponseError(nil, c.id, errUpstreamBad), errUpstreamBad.Code
		}
	}
}

func sameID(answer *fastjson.Value, id []byte) bool {
	got := answer.Get("id")
	return got != nil && string(idBytes(got)) == string(id)
}

// sendBatchSingle sends one write or wait call of a batch on its own.
func (s *Server) sendBatchSingle(o origin, c *call, deadline time.Time) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	upstreamRequest(req, o, c.raw)
	if c.method.kind == routeWrite {
		s.sendWrite(c, req, resp, deadline)
	} else {
		s.sendRead(c, req, resp, deadline)
	}
	if c.notify {
		return
	}
	var p fastjson.Parser
	if v, err := p.ParseBytes(resp.Body()); err == nil && v.Type() == fastjson.TypeObject {
		c.answer = bytes.TrimSpace(append([]byte(nil), resp.Body()...))
		c.code = v.GetInt("error", "code")
		return
	}
	c.answer, c.code = icon.AppendResponseError(nil, c.id, errUpstreamBad), errUpstreamBad.Code
}
