package compat

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/icon-edge/icon-edge/icon"
)

// The accounts the samples were recorded with.
const (
	sampleGod  = "hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"
	sampleAcc2 = "hx6d012de5402f8d43a87a1406e24ef69db9972bb4"
)

func (r *replayer) walletFor(addr string) *icon.Wallet {
	switch addr {
	case sampleGod:
		return r.env.Wallet
	case sampleAcc2:
		if r.env.Wallet2 != nil {
			return r.env.Wallet2
		}
	}
	return r.env.Wallet
}

func (r *replayer) mapAddr(a string) string {
	if w := r.walletFor(a); (a == sampleGod || a == sampleAcc2) && w != nil {
		return w.Address()
	}
	return a
}

// adaptRequest rewrites chain-dependent inputs; nil means "send as recorded".
func (r *replayer) adaptRequest(v any, s *sample) ([]byte, error) {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		c, err := r.adaptCall(x, s)
		if err != nil {
			return nil, err
		}
		changed = c
	case []any:
		for _, it := range x {
			if m, ok := it.(map[string]any); ok {
				c, err := r.adaptCall(m, s)
				if err != nil {
					return nil, err
				}
				changed = changed || c
			}
		}
	}
	if !changed {
		return nil, nil
	}
	return json.Marshal(v)
}

func (r *replayer) adaptCall(m map[string]any, s *sample) (bool, error) {
	params, ok := m["params"].(map[string]any)
	if !ok {
		return false, nil
	}
	method, _ := m["method"].(string)
	if strings.HasPrefix(method, "icx_sendTransaction") && params["from"] != nil {
		p, err := r.signLike(params, s)
		if err != nil {
			return false, err
		}
		m["params"] = p
		return true, nil
	}
	changed := false
	for k, v := range params {
		if str, ok := v.(string); ok {
			if n := r.mapValue(str); n != str {
				params[k], changed = n, true
			}
		}
	}
	return changed, nil
}

func (r *replayer) mapValue(s string) string {
	if n, ok := r.mapping[s]; ok {
		return n
	}
	return r.mapAddr(s)
}

// signLike builds a fresh transaction with the sample's intent: same fields,
// our accounts and nid, a timestamp as far from now as the recorded one was
// from its recording time, signed (or tampered, or unsigned) like the sample.
func (r *replayer) signLike(params map[string]any, s *sample) (map[string]any, error) {
	orig, _ := json.Marshal(params)
	recHash, err := icon.TxHash(orig)
	if err != nil {
		return nil, err
	}
	if prev, ok := r.sentTx[recHash]; ok { // the sample re-sends an earlier tx
		var p map[string]any
		err := json.Unmarshal(prev, &p)
		return p, err
	}
	_, _, verr := icon.VerifyTx(orig)
	_, signed := params["signature"]
	tampered := signed && verr == icon.ErrTxBadSignature
	p := make(map[string]any, len(params))
	for k, v := range params {
		if k != "signature" {
			p[k] = v
		}
	}
	from, _ := p["from"].(string)
	w := r.walletFor(from)
	p["from"] = w.Address()
	if to, ok := p["to"].(string); ok {
		p["to"] = r.mapAddr(to)
	}
	if nid, _ := p["nid"].(string); nid == "0x3" {
		p["nid"] = icon.FormatHexInt(r.env.NID)
	}
	p["timestamp"] = icon.FormatHexInt(shiftedTimestamp(p["timestamp"], s.Response.Headers["Date"]))
	if !signed {
		return p, nil
	}
	out, hash, err := w.SignParams(p)
	if err != nil {
		return nil, err
	}
	var res map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, err
	}
	if tampered { // change the value after signing, as the sample did
		v, _ := res["value"].(string)
		res["value"] = icon.FormatBigHex(new(big.Int).Add(bigOr(v), big.NewInt(1)))
		return res, nil
	}
	r.mapping[recHash] = hash
	r.sentTx[recHash] = out
	return res, nil
}

// shiftedTimestamp keeps a deliberately old or future timestamp just as far
// from now as it was from the recording; anything else becomes now.
func shiftedTimestamp(ts any, date string) int64 {
	now := time.Now().UnixMicro()
	s, _ := ts.(string)
	rec, ok := icon.ParseHexInt(s)
	at, err := http.ParseTime(date)
	if !ok || err != nil {
		return now
	}
	off := rec - at.UnixMicro()
	if off > 2*time.Minute.Microseconds() || off < -2*time.Minute.Microseconds() {
		return now + off
	}
	return now
}

// learn maps the recording's block and tx identifiers to the target's.
func (r *replayer) learn(s *sample, got answer) {
	rec, err1 := decode([]byte(s.Response.Body))
	ours, err2 := decode(got.body)
	if err1 != nil || err2 != nil {
		return
	}
	rm, ok1 := rec.(map[string]any)
	om, ok2 := ours.(map[string]any)
	if !ok1 || !ok2 {
		return
	}
	rr, ok1 := rm["result"].(map[string]any)
	or, ok2 := om["result"].(map[string]any)
	if !ok1 || !ok2 {
		return
	}
	for _, k := range []string{"blockHash", "blockHeight", "txHash"} {
		if a, ok := rr[k].(string); ok {
			if b, ok := or[k].(string); ok {
				r.learnPair(a, b)
			}
		}
	}
	if a, ok := rr["block_hash"].(string); ok {
		if b, ok := or["block_hash"].(string); ok {
			r.learnPair(a, b)
			r.learnPair("0x"+a, "0x"+b)
		}
	}
	if a, ok := rr["height"].(json.Number); ok {
		if b, ok := or["height"].(json.Number); ok {
			ai, _ := strconv.ParseInt(string(a), 10, 64)
			bi, _ := strconv.ParseInt(string(b), 10, 64)
			r.learnPair(icon.FormatHexInt(ai), icon.FormatHexInt(bi))
		}
	}
}

func (r *replayer) learnPair(rec, ours string) {
	if rec == ours || rec == "0x0" || rec == "0x1" {
		return // genesis and block 1 are the same on every chain
	}
	if _, ok := r.mapping[rec]; !ok {
		r.mapping[rec] = ours
	}
}

// compare lists what differs between the recorded answer and ours.
func (r *replayer) compare(name string, s *sample, got answer) []string {
	var out []string
	rb := strings.TrimSpace(s.Response.Body)
	gb := strings.TrimSpace(string(got.body))
	if strings.HasSuffix(name, "_pending.json") && (got.status == http.StatusOK || strings.Contains(gb, `"code":-31003`)) {
		r.t.Logf("%s: the tx was already in a block; the pending state was not observable this run", name)
		return nil
	}
	if got.status != s.Response.Status {
		out = append(out, fmt.Sprintf("HTTP status: recorded %d, got %d", s.Response.Status, got.status))
	}
	if ct := s.Response.Headers["Content-Type"]; ct != "" && !strings.EqualFold(ct, got.header.Get("Content-Type")) {
		out = append(out, fmt.Sprintf("Content-Type: recorded %q, got %q", ct, got.header.Get("Content-Type")))
	}
	for k, v := range s.Response.Headers {
		if strings.HasPrefix(k, "Access-Control-") && got.header.Get(k) != v {
			out = append(out, fmt.Sprintf("%s: recorded %q, got %q", k, v, got.header.Get(k)))
		}
	}
	rv, err := decode([]byte(rb))
	if rb == "" || err != nil {
		switch {
		case name == "metrics_get.json":
			if !strings.HasPrefix(gb, "# HELP goloop_") {
				out = append(out, "metrics: not goloop's prometheus text")
			}
		case rb != gb:
			out = append(out, fmt.Sprintf("body: recorded %q, got %q", rb, gb))
		}
		return out
	}
	gv, err := decode([]byte(gb))
	if err != nil {
		return append(out, fmt.Sprintf("body is not JSON: %q", gb))
	}
	switch rx := rv.(type) {
	case []any:
		gx, ok := gv.([]any)
		if !ok || len(gx) != len(rx) {
			return append(out, fmt.Sprintf("batch: recorded %d answers, got %s", len(rx), gb))
		}
		for i := range rx {
			out = append(out, r.compareItem(name, fmt.Sprintf("[%d]", i), rx[i], gx[i])...)
		}
	default:
		out = append(out, r.compareItem(name, "", rv, gv)...)
	}
	return out
}

func (r *replayer) compareItem(name, at string, rec, got any) []string {
	rm, ok1 := rec.(map[string]any)
	gm, ok2 := got.(map[string]any)
	if !ok1 || !ok2 {
		return compareShape(at, rec, got)
	}
	var out []string
	for _, k := range []string{"jsonrpc", "id"} {
		if fmt.Sprint(rm[k]) != fmt.Sprint(gm[k]) {
			out = append(out, fmt.Sprintf("%s%s: recorded %v, got %v", at, k, rm[k], gm[k]))
		}
	}
	if re, ok := rm["error"].(map[string]any); ok {
		ge, ok := gm["error"].(map[string]any)
		if !ok {
			return append(out, at+": recorded an error, got none")
		}
		if fmt.Sprint(re["code"]) != fmt.Sprint(ge["code"]) {
			out = append(out, fmt.Sprintf("%serror.code: recorded %v, got %v", at, re["code"], ge["code"]))
		}
		if want, gotMsg := r.mapText(normalizeMessage(fmt.Sprint(re["message"]))), normalizeMessage(fmt.Sprint(ge["message"])); want != gotMsg {
			out = append(out, fmt.Sprintf("%serror.message: recorded %q, got %q", at, want, gotMsg))
		}
		if d, ok := re["data"].(string); ok && r.mapText(d) != fmt.Sprint(ge["data"]) {
			out = append(out, fmt.Sprintf("%serror.data: recorded %q, got %v", at, r.mapText(d), ge["data"]))
		}
		return out
	}
	if _, ok := gm["result"]; !ok {
		return append(out, at+": recorded a result, got "+fmt.Sprint(gm["error"]))
	}
	out = append(out, compareShape(at+"result", rm["result"], gm["result"])...)
	if exactValue[name] {
		a, _ := json.Marshal(rm["result"])
		b, _ := json.Marshal(gm["result"])
		if string(a) != string(b) {
			out = append(out, fmt.Sprintf("%sresult value: recorded %s, got %s", at, a, b))
		}
	}
	return out
}

// mapText replaces recorded identifiers inside a message with ours.
func (r *replayer) mapText(s string) string {
	for rec, ours := range r.mapping {
		if len(rec) >= 40 {
			s = strings.ReplaceAll(s, rec, ours)
		}
	}
	return s
}
