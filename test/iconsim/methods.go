package iconsim

import (
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strconv"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/valyala/fastjson"
)

// goloop's answers for transaction handling, texts as in the samples.
var (
	errDuplicateTx   = icon.NewError(icon.CodeSystemError, "SystemError: E2000:DuplicateTransaction")
	errPoolOverflow  = icon.NewError(icon.CodePoolOverflow, "PoolOverflow: E2001:TransactionPoolOverflow")
	errBadSignature  = icon.NewError(icon.CodeSystemError, "SystemError: E2005:Failed to verify transaction")
	errPending       = icon.NewError(icon.CodePending, "Pending: Pending")
	errExecuting     = icon.NewError(icon.CodeExecuting, "Executing: Executing")
	errWaitNotFound  = icon.NewError(icon.CodeSystemError, "SystemError: E1005:NotFound")
	errInvalidValue  = icon.NewError(icon.CodeInvalidParams, "InvalidParams: fail to validate, version('version')")
	errBadDataType   = icon.ValidateParamError("t_data_type", "dataType")
	errCallNeedsData = icon.NewError(icon.CodeInvalidParams, "InvalidParams: fail to validate, required('data')")
)

func notFoundTx(h string) *icon.Error {
	return icon.NewError(icon.CodeNotFound, "NotFound: E1005:not found tx="+h)
}

func noAccount(addr string) *icon.Error {
	return icon.NewError(icon.CodeNotFound, "NotFound: E2008:No account for "+addr)
}

func quote(s string) []byte { return icon.AppendJSONString(nil, s) }

func (c *call) getLastBlock() ([]byte, *icon.Error) {
	if e := c.allow(); e != nil {
		return nil, e
	}
	b := c.node.cluster.chain.block(c.node.Height())
	if b == nil {
		return nil, icon.NewError(icon.CodeNotFound, "NotFound: E1005:no block")
	}
	return b.JSON, nil
}

func (c *call) getBlockByHeight() ([]byte, *icon.Error) {
	if e := c.requireParams(); e != nil {
		return nil, e
	}
	if e := c.allow("height"); e != nil {
		return nil, e
	}
	h, _, e := c.hexInt("height", true)
	if e != nil {
		return nil, e
	}
	var b *Block
	if h >= 0 && h <= c.node.Height() {
		b = c.node.cluster.chain.block(h)
	}
	if b == nil {
		return nil, icon.NewError(icon.CodeNotFound, "NotFound: E1005:no block for "+strconv.FormatInt(h, 10))
	}
	return b.JSON, nil
}

func (c *call) getBlockByHash() ([]byte, *icon.Error) {
	if e := c.requireParams(); e != nil {
		return nil, e
	}
	if e := c.allow("hash"); e != nil {
		return nil, e
	}
	h, e := c.hash("hash")
	if e != nil {
		return nil, e
	}
	b := c.node.cluster.chain.blockByHash(h)
	if b == nil || b.Height > c.node.Height() {
		return nil, icon.NewError(icon.CodeNotFound, "NotFound: E1005:block not found "+hex.EncodeToString(h[:]))
	}
	return b.JSON, nil
}

func (c *call) getBalance() ([]byte, *icon.Error) {
	if e := c.requireParams(); e != nil {
		return nil, e
	}
	if e := c.allow("address", "height"); e != nil {
		return nil, e
	}
	addr, _, e := c.address("address", true)
	if e != nil {
		return nil, e
	}
	h, e := c.height()
	if e != nil {
		return nil, e
	}
	return quote(icon.FormatBigHex(c.node.cluster.chain.Balance(addr, h))), nil
}

func (c *call) getTotalSupply() ([]byte, *icon.Error) {
	if e := c.allow("height"); e != nil {
		return nil, e
	}
	if _, e := c.height(); e != nil {
		return nil, e
	}
	return quote(icon.FormatBigHex(genesisBalance)), nil
}

func (c *call) getScoreApi() ([]byte, *icon.Error) {
	if e := c.requireParams(); e != nil {
		return nil, e
	}
	if e := c.allow("address", "height"); e != nil {
		return nil, e
	}
	addr, _, e := c.address("address", true)
	if e != nil {
		return nil, e
	}
	if _, e := c.height(); e != nil {
		return nil, e
	}
	api, ok := scoreAPIs[addr]
	if !ok {
		return nil, noAccount(addr)
	}
	return api, nil
}

func (c *call) getScoreStatus() ([]byte, *icon.Error) {
	if e := c.requireParams(); e != nil {
		return nil, e
	}
	if e := c.allow("address", "height"); e != nil {
		return nil, e
	}
	addr, _, e := c.address("address", true)
	if e != nil {
		return nil, e
	}
	typ := "system"
	switch addr {
	case ChainScoreAddress:
	case TokenAddress:
		typ = "java"
	default:
		return nil, noAccount(addr)
	}
	ch := sha3hex(addr)
	return mustJSON(map[string]any{"current": map[string]string{"codeHash": ch, "status": "active", "type": typ}}), nil
}

func (c *call) getNetworkInfo() ([]byte, *icon.Error) {
	ch := c.node.cluster.chain
	return mustJSON(map[string]string{
		"platform": "basic", "nid": icon.FormatHexInt(ch.nid), "channel": ch.channel,
		"earliest": "0x0", "latest": icon.FormatHexInt(c.node.Height()), "stepPrice": icon.FormatBigHex(stepPrice),
	}), nil
}

func (c *call) icxCall() ([]byte, *icon.Error) {
	if e := c.requireParams(); e != nil {
		return nil, e
	}
	if e := c.allow("from", "to", "dataType", "data", "height"); e != nil {
		return nil, e
	}
	if _, _, e := c.address("from", false); e != nil {
		return nil, e
	}
	to, _, e := c.address("to", true)
	if e != nil {
		return nil, e
	}
	dt, _, e := c.str("dataType", "t_str", true)
	if e != nil {
		return nil, e
	}
	if dt != "call" {
		return nil, errBadDataType
	}
	dv := c.params.Get("data")
	if dv == nil || dv.Type() != fastjson.TypeObject {
		return nil, errCallNeedsData
	}
	var d callData
	if json.Unmarshal(dv.MarshalTo(nil), &d) != nil || d.Method == "" {
		return nil, scoreErr(scoreInvalidParameter, "InvalidParameter")
	}
	h, e := c.height()
	if e != nil {
		return nil, e
	}
	res, e := c.node.cluster.chain.call(to, d, h)
	if e != nil {
		return nil, e
	}
	return mustJSON(res), nil
}

// parseTx validates send params the way goloop does and verifies the signature.
func (c *call) parseTx() (*Tx, *icon.Error) {
	if e := c.requireParams(); e != nil {
		return nil, e
	}
	if e := c.allow("version", "from", "to", "value", "stepLimit", "timestamp", "nid", "nonce", "signature", "dataType", "data"); e != nil {
		return nil, e
	}
	if v, ok, e := c.str("version", "t_int", false); e != nil {
		return nil, e
	} else if ok && v != "0x3" {
		return nil, errInvalidValue
	}
	from, _, e := c.address("from", true)
	if e != nil {
		return nil, e
	}
	if !icon.IsEOA(from) {
		return nil, icon.ValidateParamError("t_addr_eoa", "from")
	}
	to, _, e := c.address("to", true)
	if e != nil {
		return nil, e
	}
	value := new(big.Int)
	if s, ok, e := c.str("value", "t_int", false); e != nil {
		return nil, e
	} else if ok {
		v, good := icon.ParseBigHex(s)
		if !good || v.Sign() < 0 {
			return nil, icon.ValidateParamError("t_int", "value")
		}
		value = v
	}
	sl, _, e := c.str("stepLimit", "t_int", true)
	if e != nil {
		return nil, e
	}
	stepLimit, good := icon.ParseBigHex(sl)
	if !good || stepLimit.Sign() < 0 {
		return nil, icon.ValidateParamError("t_int", "stepLimit")
	}
	ts, _, e := c.hexInt("timestamp", true)
	if e != nil {
		return nil, e
	}
	nid, hasNID, e := c.hexInt("nid", false)
	if e != nil {
		return nil, e
	}
	if _, _, e := c.hexInt("nonce", false); e != nil {
		return nil, e
	}
	dataType, _, e := c.str("dataType", "t_str", false)
	if e != nil {
		return nil, e
	}
	switch dataType {
	case "", "call", "message", "deploy", "deposit":
	default:
		return nil, errBadDataType
	}
	if _, _, e := c.str("signature", "t_sig", true); e != nil {
		return nil, e
	}
	raw := c.params.MarshalTo(nil)
	_, txHash, err := icon.VerifyTx(raw)
	if err != nil {
		return nil, errBadSignature
	}
	chain := c.node.cluster.chain
	if hasNID && nid != chain.nid {
		return nil, icon.NewError(icon.CodeSystemError, "SystemError: E1006:ValidateNetwork(nid="+icon.FormatHexInt(chain.nid)+") fail")
	}
	now := time.Now()
	if min := now.Add(-timestampWindow).UnixMicro(); ts < min {
		d := time.Duration(min-ts) * time.Microsecond
		return nil, icon.NewError(icon.CodeSystemError, "SystemError: E2002:Expired(min-"+d.String()+")")
	}
	if max := now.Add(timestampWindow).UnixMicro(); ts > max {
		d := time.Duration(ts-max) * time.Microsecond
		return nil, icon.NewError(icon.CodeSystemError, "SystemError: E2003:FutureTx(max+"+d.String()+")")
	}
	tx := &Tx{HashHex: txHash, From: from, To: to, Value: value, StepLimit: stepLimit, Timestamp: ts, DataType: dataType}
	decodeHex(tx.Hash[:], txHash[2:])
	if err := json.Unmarshal(raw, &tx.Params); err != nil {
		return nil, errBadSignature
	}
	delete(tx.Params, "txHash")
	if d := c.params.Get("data"); d != nil {
		tx.Data = d.MarshalTo(nil)
	}
	return tx, nil
}

func (c *call) sendTransaction() ([]byte, *icon.Error) {
	tx, e := c.parseTx()
	if e != nil {
		return nil, e
	}
	if e := c.node.cluster.chain.addTx(tx); e != nil {
		return nil, e
	}
	return quote(tx.HashHex), nil
}

func (c *call) sendTransactionAndWait() ([]byte, *icon.Error) {
	tx, e := c.parseTx()
	if e != nil {
		return nil, e
	}
	if e := c.node.cluster.chain.addTx(tx); e != nil {
		return nil, e
	}
	return c.waitResult(tx.Hash, tx.HashHex)
}

func (c *call) waitTransactionResult() ([]byte, *icon.Error) {
	if e := c.allow("txHash"); e != nil {
		return nil, e
	}
	h, e := c.hash("txHash")
	if e != nil {
		return nil, e
	}
	hh := icon.FormatHash(h[:])
	if loc, pooled := c.node.cluster.chain.lookupTx(h); loc.block == nil && pooled == nil {
		return nil, errWaitNotFound
	}
	return c.waitResult(h, hh)
}

// waitResult blocks until the tx result is final in this node's view, the
// wait timeout passes (-31006 with the hash in data) or the client leaves.
func (c *call) waitResult(h [32]byte, hh string) ([]byte, *icon.Error) {
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	poll := time.NewTicker(50 * time.Millisecond) // picks up fault changes (stall, lag)
	defer poll.Stop()
	for {
		next := c.node.cluster.chain.waitCh()
		res, e := c.node.txResult(h, hh)
		if e == nil {
			return res, nil
		}
		select {
		case <-next:
		case <-poll.C:
		case <-timer.C:
			return nil, &icon.Error{Code: icon.CodeTimeout, Message: "Timeout: UserTimeoutExpire(dur=" + c.timeout.String() + ")", Data: quote(hh)}
		case <-c.ctx.Done():
			return nil, &icon.Error{Code: icon.CodeTimeout, Message: "Timeout: UserTimeoutExpire(dur=" + c.timeout.String() + ")", Data: quote(hh)}
		}
	}
}

func (c *call) getTransactionResult() ([]byte, *icon.Error) {
	if e := c.allow("txHash"); e != nil {
		return nil, e
	}
	h, e := c.hash("txHash")
	if e != nil {
		return nil, e
	}
	return c.node.txResult(h, icon.FormatHash(h[:]))
}

// txResult is the receipt as this node sees it: Pending in the pool,
// Executing until one more block is on top, NotFound beyond the node's view.
func (n *Node) txResult(h [32]byte, hh string) ([]byte, *icon.Error) {
	loc, pooled := n.cluster.chain.lookupTx(h)
	view := n.Height()
	switch {
	case pooled != nil:
		return nil, errPending
	case loc.block == nil || loc.block.Height > view:
		return nil, notFoundTx(hh)
	case loc.block.Height == view:
		return nil, errExecuting
	}
	return receiptJSON(loc), nil
}

func (c *call) getTransactionByHash() ([]byte, *icon.Error) {
	if e := c.allow("txHash"); e != nil {
		return nil, e
	}
	h, e := c.hash("txHash")
	if e != nil {
		return nil, e
	}
	loc, _ := c.node.cluster.chain.lookupTx(h)
	if loc.block == nil || loc.block.Height > c.node.Height() {
		return nil, notFoundTx(icon.FormatHash(h[:]))
	}
	tx := loc.block.Txs[loc.index]
	return txJSON(tx, map[string]string{
		"blockHash":   loc.block.HashHex(),
		"blockHeight": icon.FormatHexInt(loc.block.Height),
		"txIndex":     icon.FormatHexInt(int64(loc.index)),
	}), nil
}

type eventLogJSON struct {
	Data         []string `json:"data"`
	Indexed      []string `json:"indexed"`
	ScoreAddress string   `json:"scoreAddress"`
}

func receiptJSON(loc txLoc) []byte {
	b, tx, r := loc.block, loc.block.Txs[loc.index], loc.block.Receipts[loc.index]
	logs := make([]eventLogJSON, 0, len(r.EventLogs))
	for _, ev := range r.EventLogs {
		logs = append(logs, eventLogJSON{Data: ev.Data, Indexed: ev.Indexed, ScoreAddress: ev.Score})
	}
	m := map[string]any{
		"blockHash":          b.HashHex(),
		"blockHeight":        icon.FormatHexInt(b.Height),
		"cumulativeStepUsed": icon.FormatHexInt(r.Cumul),
		"eventLogs":          logs,
		"logsBloom":          "0x" + hex.EncodeToString(r.Bloom[:]),
		"status":             icon.FormatHexInt(int64(r.Status)),
		"stepPrice":          icon.FormatBigHex(stepPrice),
		"stepUsed":           icon.FormatHexInt(r.StepUsed),
		"to":                 tx.To,
		"txHash":             tx.HashHex,
		"txIndex":            icon.FormatHexInt(int64(loc.index)),
	}
	if r.Status == 0 {
		m["failure"] = map[string]string{"code": icon.FormatHexInt(int64(r.failCode)), "message": r.Failure}
	}
	return mustJSON(m)
}
