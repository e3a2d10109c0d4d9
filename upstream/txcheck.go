package upstream

import (
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"
)

// txCheckPolicy asks up to three in-sync nodes, briefly each: a transaction
// that reached one node may not have spread to the next yet.
var txCheckPolicy = Policy{Retries: 2, AttemptTimeout: time.Second, NotFound: NotFoundAskAny}

// TxKnown reports whether a node knows txHash (pending in its pool,
// executing, or done): proof that a write whose answer was lost arrived.
// path is the JSON-RPC path the write used, so the channel is the same.
func (p *Pool) TxKnown(path []byte, txHash string, deadline time.Time) bool {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(path)
	req.Header.SetContentType("application/json")
	req.SetBodyString(`{"jsonrpc":"2.0","id":1,"method":"icx_getTransactionResult","params":{"txHash":` +
		string(icon.AppendJSONString(nil, txHash)) + `}}`)
	if r := p.Send(Need{Latest: true}, req, resp, deadline, txCheckPolicy); r.Outcome != OutcomeOK {
		return false
	}
	if resp.StatusCode() == fasthttp.StatusOK {
		return true
	}
	switch fastjson.GetInt(resp.Body(), "error", "code") {
	case icon.CodePending, icon.CodeExecuting:
		return true
	}
	return false
}
