package proxy

import (
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/icon-edge/icon-edge/upstream"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// sendWrite delivers icx_sendTransaction(AndWait) at most once. It moves to
// another node only when the connection failed before anything was written;
// once a node may have the transaction, the edge asks the nodes whether it
// arrived instead of sending it again, and answers with the tx hash it
// computed itself.
func (s *Server) sendWrite(c *call, req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) {
	var triedBuf [4]*upstream.Node
	tried := triedBuf[:0]
	for attempt := 0; attempt <= s.cfg.MaxRetries; attempt++ {
		n := s.pool.Pick(upstream.Need{Latest: true}, tried)
		if n == nil {
			break
		}
		tried = append(tried, n)
		c.upstream = n.URL()
		outcome, err := s.pool.Do(n, req, resp, upstream.Attempt{Deadline: deadline, Long: c.method.wait})
		switch {
		case outcome == upstream.OutcomeOK || outcome == upstream.OutcomeHTTP5xx:
			return
		case !outcome.Sent():
			s.metrics.retry("write_not_sent")
			c.retries++
			continue
		}
		s.log.Warn("write may have reached the node; not resending", "upstream", n.URL(), "outcome", outcome.String(), "err", err)
		s.settleUncertainWrite(c, req.URI().Path(), resp)
		return
	}
	edgeFailure(resp, c.id, upstream.OutcomeDial, true)
}

// settleUncertainWrite answers a write whose delivery is unknown. A node that
// knows the hash (pending in its pool, executing, or done) proves the write
// arrived; then a plain send succeeded and a send-and-wait timed out waiting,
// just as goloop reports it. Otherwise the client learns the hash with a
// timeout, and may resend safely: a node rejects a duplicate transaction.
func (s *Server) settleUncertainWrite(c *call, path []byte, resp *fasthttp.Response) {
	txHash := ""
	if c.params != nil {
		txHash, _ = icon.TxHash(c.params.MarshalTo(nil))
	}
	if txHash == "" {
		edgeFailure(resp, c.id, upstream.OutcomeTimeout, false)
		return
	}
	data := icon.AppendJSONString(nil, txHash)
	if s.txKnown(path, txHash) {
		s.metrics.writeSettled("arrived")
		if c.method.wait {
			e := &icon.Error{Code: icon.CodeTimeout, Message: "Timeout: the node did not answer in time", Data: data}
			setJSON(resp, fasthttp.StatusBadRequest, icon.AppendResponseError(nil, c.id, e))
			return
		}
		setJSON(resp, fasthttp.StatusOK, icon.AppendResponseResult(nil, c.id, data))
		return
	}
	s.metrics.writeSettled("unknown")
	e := &icon.Error{Code: icon.CodeTimeout, Message: "Timeout: delivery unknown; query or resend the transaction", Data: data}
	setJSON(resp, fasthttp.StatusGatewayTimeout, icon.AppendResponseError(nil, c.id, e))
}

// txKnown asks up to three in-sync nodes, briefly, whether they know txHash.
func (s *Server) txKnown(path []byte, txHash string) bool {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"icx_getTransactionResult","params":{"txHash":"` + txHash + `"}}`)
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(path)
	req.Header.SetContentType("application/json")
	req.SetBodyRaw(body)
	var tried []*upstream.Node
	for range 3 {
		n := s.pool.Pick(upstream.Need{Latest: true}, tried)
		if n == nil {
			return false
		}
		tried = append(tried, n)
		if out, _ := s.pool.Do(n, req, resp, upstream.Attempt{Deadline: time.Now().Add(time.Second)}); out != upstream.OutcomeOK {
			continue
		}
		if resp.StatusCode() == fasthttp.StatusOK {
			return true
		}
		switch fastjson.GetInt(resp.Body(), "error", "code") {
		case icon.CodePending, icon.CodeExecuting:
			return true
		}
	}
	return false
}
