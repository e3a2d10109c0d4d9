package proxy

import (
	"bytes"
	"github.com/icon-edge/icon-edge/internal/rawjson"
	"runtime/debug"
	"sync"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/routing"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// serveBatch runs the cache and route stages for a batch, then answers it as
// a batch with every id matched. Invalid items were answered by parse; reads
// go to nodes in chunks of the nodes' batch limit, each chunk routed on its
// own; writes and wait methods go one by one, so a read retry can never
// resend a write and a long wait never holds up (or times out) a chunk of
// quick reads. Everything runs in parallel and answers keep the client's order.
func (s *Server) serveBatch(x *exchange) {
	tip := s.pool.Tip()
	var reads, singles []*call
	for i := range x.calls {
		c := &x.calls[i]
		switch {
		case c.err != nil:
		case c.method.Kind == routing.Write || c.method.Wait && !c.notify:
			singles = append(singles, c)
		case c.notify:
			// A read nobody waits for is not executed, as goloop does.
		case x.st.cache != nil && s.cachedBatchItem(x, c, tip):
		default:
			reads = append(reads, c)
		}
	}
	if x.st.cache != nil {
		reads = sharedBatchItems(x.st.cache, reads, tip)
	}
	s.forwardBatch(x, reads, singles)
	if x.st.cache != nil {
		s.storeBatchAnswers(x, tip)
	}
	s.answerBatch(x)
}

// forwardBatch sends the chunks of reads and the single calls in parallel.
// Node bodies are the client's own bytes and deadlines come from the client's
// headers: both are read here, before any goroutine starts.
func (s *Server) forwardBatch(x *exchange, reads, singles []*call) {
	type chunk struct {
		calls []*call
		body  []byte
	}
	var chunks []chunk
	limit := x.st.cfg.NodeBatchLimit
	for off := 0; off < len(reads); off += limit {
		calls := reads[off:min(off+limit, len(reads))]
		body := []byte{'['}
		for i, c := range calls {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, c.raw...)
		}
		chunks = append(chunks, chunk{calls: calls, body: append(body, ']')})
	}
	deadline := x.start.Add(x.st.cfg.RequestTimeout)
	if len(singles) > 0 || s.regions != nil {
		s.client(x) // resolved before the goroutines: it reads headers
	}
	var wg sync.WaitGroup
	unserved := make([]bool, len(chunks))
	for i, ch := range chunks {
		wg.Go(func() {
			defer s.recoverCalls(ch.calls...)
			unserved[i] = !s.sendChunk(x.origin, ch.calls, ch.body, deadline, x.st.chunk, s.regions != nil && !x.hopped)
		})
	}
	for _, c := range singles {
		wg.Go(func() {
			defer s.recoverCalls(c)
			s.forwardBatchSingle(x, c)
		})
	}
	wg.Wait()
	var rest []*call
	for i, ch := range chunks {
		if unserved[i] {
			rest = append(rest, ch.calls...)
		}
	}
	if len(rest) > 0 {
		s.failoverReads(x, rest, deadline)
	}
}

// failoverReads sends the reads no local node could serve to a peer region
// as one sub-batch, and splits its answer back.
func (s *Server) failoverReads(x *exchange, calls []*call, deadline time.Time) {
	body := []byte{'['}
	for i, c := range calls {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, c.raw...)
	}
	body = append(body, ']')
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	peer, ok := s.failover(x, body, resp, deadline)
	if !ok {
		edgeFailure(resp, nil, upstream.OutcomeShed, true)
		splitChunkAnswer(calls, resp, "", 0)
		return
	}
	splitChunkAnswer(calls, resp, "region:"+peer, 0)
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

// sendChunk forwards up to NodeBatchLimit reads as one node batch, to a node
// that meets the strictest need among them. The chunk is retried like any
// read, but a -31004 inside it is one item's answer, not a reason to resend
// the others. With mayFailover, a chunk no local node answered is left
// unanswered (false) for a peer region.
func (s *Server) sendChunk(o origin, chunk []*call, body []byte, deadline time.Time, pol upstream.Policy, mayFailover bool) bool {
	need := upstream.Need{}
	for _, c := range chunk {
		need.Latest = need.Latest || c.need.Latest
		need.MinHeight = max(need.MinHeight, c.need.MinHeight)
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	r := s.send(o, need, body, resp, deadline, pol)
	if mayFailover && (!r.Answered() || r.Outcome == upstream.OutcomeHTTP5xx) {
		return false
	}
	if !r.Answered() {
		edgeFailure(resp, nil, r.Outcome, r.Tried == 0)
	}
	splitChunkAnswer(chunk, resp, r.Node, r.Retries)
	return true
}

// splitChunkAnswer hands each call of a chunk its answer from the node's
// batch answer: by position when the node answered every item (goloop keeps
// order), by id otherwise. A node error for the whole batch (e.g. its own
// batch limit) becomes each item's answer.
func splitChunkAnswer(chunk []*call, resp *fasthttp.Response, node string, retries int) {
	var p fastjson.Parser
	v, err := p.ParseBytes(resp.Body())
	var answers []*fastjson.Value
	var raws [][]byte
	if err == nil && v.Type() == fastjson.TypeArray {
		answers, _ = v.Array()
		if raws = rawjson.Elements(resp.Body()); len(raws) != len(answers) {
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
	return got != nil && string(appendID(nil, got)) == string(id)
}

// forwardBatchSingle sends one write or wait call of a batch on its own.
func (s *Server) forwardBatchSingle(x *exchange, c *call) {
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	s.forward(x, c, c.raw, resp)
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
