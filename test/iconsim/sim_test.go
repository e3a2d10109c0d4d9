package iconsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/icon"
)

func startCluster(t *testing.T, nodes int) *Cluster {
	t.Helper()
	c, err := Start(Config{Listen: "127.0.0.1:0", Nodes: nodes, BlockInterval: 40 * time.Millisecond, DefaultWaitTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

type rpcResp struct {
	Status int
	Body   []byte
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

var client = &http.Client{Timeout: 10 * time.Second}

func post(t *testing.T, url, body string, hdr ...string) rpcResp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := rpcResp{Status: res.StatusCode, Body: b}
	if len(b) > 0 && b[0] == '{' {
		_ = json.Unmarshal(b, &r)
	}
	return r
}

func rpc(method, params string) string {
	if params == "" {
		return `{"jsonrpc":"2.0","id":1,"method":"` + method + `"}`
	}
	return `{"jsonrpc":"2.0","id":1,"method":"` + method + `","params":` + params + `}`
}

func devWallet(t *testing.T) *icon.Wallet {
	w, err := icon.NewWallet(DevPrivateKey)
	if err != nil || w.Address() != DevAddress {
		t.Fatalf("dev key: %v %v", w, err)
	}
	return w
}

func signedTransfer(t *testing.T, w *icon.Wallet, to string, v int64) ([]byte, string) {
	p, h, err := w.SignTransfer(to, big.NewInt(v), 3, 200000, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p, h
}

func TestSameChainAcrossNodes(t *testing.T) {
	c := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.WaitHeight(ctx, 3); err != nil {
		t.Fatal(err)
	}
	var hashes []string
	for _, u := range c.URLs() {
		r := post(t, u+"/api/v3/icon_dex", rpc("icx_getBlockByHeight", `{"height":"0x2"}`))
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", u, r.Status, r.Body)
		}
		var b struct {
			Hash   string `json:"block_hash"`
			Height int64  `json:"height"`
		}
		_ = json.Unmarshal(r.Result, &b)
		if b.Height != 2 || len(b.Hash) != 64 {
			t.Fatalf("block: %s", r.Result)
		}
		hashes = append(hashes, b.Hash)
	}
	if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
		t.Fatalf("nodes disagree: %v", hashes)
	}
}

func TestTransferLifecycle(t *testing.T) {
	c := startCluster(t, 1)
	u := c.URLs()[0] + "/api/v3"
	w := devWallet(t)
	p, h := signedTransfer(t, w, Dev2Address, 1e18)
	r := post(t, u, rpc("icx_sendTransaction", string(p)))
	if r.Status != 200 || string(r.Result) != `"`+h+`"` {
		t.Fatalf("send: %d %s", r.Status, r.Body)
	}
	// Immediately: pending (unless a block was just cut, then executing).
	r = post(t, u, rpc("icx_getTransactionResult", `{"txHash":"`+h+`"}`))
	if r.Error == nil || (r.Error.Code != icon.CodePending && r.Error.Code != icon.CodeExecuting) {
		t.Fatalf("early result: %s", r.Body)
	}
	dup := post(t, u, rpc("icx_sendTransaction", string(p)))
	if dup.Status != 400 || dup.Error.Code != -31000 || !strings.Contains(dup.Error.Message, "DuplicateTransaction") {
		t.Fatalf("dup: %s", dup.Body)
	}
	r = post(t, u, rpc("icx_waitTransactionResult", `{"txHash":"`+h+`"}`), "Icon-Options", "timeout=3000")
	if r.Status != 200 {
		t.Fatalf("wait: %s", r.Body)
	}
	var rc map[string]any
	_ = json.Unmarshal(r.Result, &rc)
	if rc["status"] != "0x1" || rc["txHash"] != h || rc["stepUsed"] != "0x186a0" {
		t.Fatalf("receipt: %s", r.Result)
	}
	got := post(t, u, rpc("icx_getBalance", `{"address":"`+Dev2Address+`"}`))
	if string(got.Result) != `"0xde0b6b3a7640000"` {
		t.Fatalf("balance of receiver: %s", got.Body)
	}
	fee := new(big.Int).Mul(big.NewInt(stepDefault), stepPrice)
	want := new(big.Int).Sub(genesisBalance, big.NewInt(1e18))
	want.Sub(want, fee)
	if b := c.Balance(DevAddress); b.Cmp(want) != 0 {
		t.Fatalf("sender balance %s want %s", b, want)
	}
	// Balance before the transfer's block is still the genesis amount.
	if g := post(t, u, rpc("icx_getBalance", `{"address":"`+Dev2Address+`","height":"0x0"}`)); string(g.Result) != `"0x0"` {
		t.Fatalf("historic balance: %s", g.Body)
	}
	byHash := post(t, u, rpc("icx_getTransactionByHash", `{"txHash":"`+h+`"}`))
	var tx map[string]any
	_ = json.Unmarshal(byHash.Result, &tx)
	if tx["from"] != DevAddress || tx["blockHash"] != rc["blockHash"] || tx["txIndex"] != "0x0" {
		t.Fatalf("byHash: %s", byHash.Body)
	}
}

func TestSendRejections(t *testing.T) {
	c := startCluster(t, 1)
	u := c.URLs()[0] + "/api/v3"
	w := devWallet(t)
	cases := []struct {
		name   string
		params func() []byte
		code   int
		msg    string
	}{
		{"wrong nid", func() []byte {
			p, _, _ := w.SignTransfer(Dev2Address, big.NewInt(1), 1, 200000, time.Now())
			return p
		}, -31000, "SystemError: E1006:ValidateNetwork(nid=0x3) fail"},
		{"old", func() []byte {
			p, _, _ := w.SignTransfer(Dev2Address, big.NewInt(1), 3, 200000, time.Now().Add(-10*time.Minute))
			return p
		}, -31000, "SystemError: E2002:Expired(min-"},
		{"future", func() []byte {
			p, _, _ := w.SignTransfer(Dev2Address, big.NewInt(1), 3, 200000, time.Now().Add(10*time.Minute))
			return p
		}, -31000, "SystemError: E2003:FutureTx(max+"},
		{"tampered", func() []byte {
			p, _ := signedTransfer(t, w, Dev2Address, 1)
			return bytes.Replace(p, []byte(`"value":"0x1"`), []byte(`"value":"0x2"`), 1)
		}, -31000, "SystemError: E2005:Failed to verify transaction"},
		{"unsigned", func() []byte {
			return []byte(`{"version":"0x3","from":"` + DevAddress + `","to":"` + Dev2Address + `","stepLimit":"0x1","timestamp":"0x1","nid":"0x3"}`)
		}, -32602, "InvalidParams: fail to validate, required('signature')"},
	}
	for _, tc := range cases {
		r := post(t, u, rpc("icx_sendTransaction", string(tc.params())))
		if r.Status != 400 || r.Error == nil || r.Error.Code != tc.code || !strings.HasPrefix(r.Error.Message, tc.msg) {
			t.Errorf("%s: %d %s", tc.name, r.Status, r.Body)
		}
	}
}

func TestSendAndWaitTimeoutAndToken(t *testing.T) {
	c := startCluster(t, 1)
	u := c.URLs()[0] + "/api/v3"
	w := devWallet(t)
	p, h := signedTransfer(t, w, Dev2Address, 5)
	r := post(t, u, rpc("icx_sendTransactionAndWait", string(p)), "Icon-Options", "timeout=1")
	if r.Status != 400 || r.Error.Code != icon.CodeTimeout || string(r.Error.Data) != `"`+h+`"` || r.Error.Message != "Timeout: UserTimeoutExpire(dur=1ms)" {
		t.Fatalf("timeout: %s", r.Body)
	}
	cp, ch, err := w.SignCall(TokenAddress, "transfer", map[string]string{"_to": Dev2Address, "_value": "0x64"}, 3, 10000000, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r = post(t, u, rpc("icx_sendTransactionAndWait", string(cp)))
	if r.Status != 200 {
		t.Fatalf("token transfer: %s", r.Body)
	}
	var rc struct {
		TxHash    string         `json:"txHash"`
		Status    string         `json:"status"`
		EventLogs []eventLogJSON `json:"eventLogs"`
		LogsBloom string         `json:"logsBloom"`
	}
	_ = json.Unmarshal(r.Result, &rc)
	if rc.TxHash != ch || rc.Status != "0x1" || len(rc.EventLogs) != 1 || rc.EventLogs[0].Indexed[0] != transferSig ||
		rc.EventLogs[0].Indexed[2] != Dev2Address || rc.EventLogs[0].Data[0] != "0x64" || strings.Trim(rc.LogsBloom, "0x") == "" {
		t.Fatalf("token receipt: %s", r.Result)
	}
	bal := post(t, u, rpc("icx_call", `{"to":"`+TokenAddress+`","dataType":"call","data":{"method":"balanceOf","params":{"_owner":"`+Dev2Address+`"}}}`))
	if string(bal.Result) != `"0x64"` {
		t.Fatalf("balanceOf: %s", bal.Body)
	}
}

func TestLaggingNode(t *testing.T) {
	c := startCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.WaitHeight(ctx, 6); err != nil {
		t.Fatal(err)
	}
	lag := int64(5)
	c.Node(1).SetFaults(Faults{LagBlocks: &lag})
	tip := c.Node(0).Height()
	if d := tip - c.Node(1).Height(); d < 4 || d > 6 { // a block may land between reads
		t.Fatalf("lag: node0 %d node1 %d", tip, c.Node(1).Height())
	}
	hh := icon.FormatHexInt(tip)
	if r := post(t, c.URLs()[1]+"/api/v3", rpc("icx_getBlockByHeight", `{"height":"`+hh+`"}`)); r.Status != 400 || r.Error.Code != icon.CodeNotFound {
		t.Fatalf("lagging node served a block above its view: %s", r.Body)
	}
	stall := true
	c.Node(0).SetFaults(Faults{Stall: &stall})
	h0 := c.Node(0).Height()
	if err := c.WaitHeight(ctx, c.Height()+3); err != nil {
		t.Fatal(err)
	}
	if c.Node(0).Height() != h0 {
		t.Fatalf("stalled node advanced: %d -> %d", h0, c.Node(0).Height())
	}
	if c.Node(0).Stats().Faults.LagBlocks != 0 || !c.Node(0).Stats().Faults.Stall {
		t.Fatal("fields not given must keep their value")
	}
	stall = false
	c.Node(0).SetFaults(Faults{Stall: &stall})
	if c.Node(0).Height() < c.Height()-1 {
		t.Fatal("unstalled node did not catch up")
	}
}

func TestDownAndSimEndpoints(t *testing.T) {
	c := startCluster(t, 1)
	base := c.URLs()[0]
	for i := 0; i < 3; i++ {
		post(t, base+"/api/v3", rpc("icx_getLastBlock", ""))
	}
	post(t, base+"/api/v3", `[`+rpc("icx_getBalance", `{"address":"`+DevAddress+`"}`)+`,`+rpc("icx_getLastBlock", "")+`]`)
	st := c.Node(0).Stats()
	if st.Total != 5 || st.Methods["icx_getLastBlock"] != 4 || st.Methods["icx_getBalance"] != 1 {
		t.Fatalf("stats: %+v", st)
	}
	// Down through the HTTP control API, on a keep-alive client.
	res, err := client.Post(base+"/_sim/faults", "application/json", strings.NewReader(`{"down":true}`))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("faults: %v %v", res, err)
	}
	res.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v3", strings.NewReader(rpc("icx_getLastBlock", "")))
	if _, err := client.Do(req); err == nil {
		t.Fatal("down node answered JSON-RPC")
	}
	res, err = client.Get(base + "/_sim/stats")
	if err != nil {
		t.Fatalf("stats while down: %v", err)
	}
	var s Stats
	_ = json.NewDecoder(res.Body).Decode(&s)
	res.Body.Close()
	if !s.Faults.Down || s.Total != 5 {
		t.Fatalf("stats while down: %+v", s)
	}
	res, err = client.Post(base+"/_sim/faults", "application/json", strings.NewReader(`{"down":false,"error_rate":1}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if r := post(t, base+"/api/v3", rpc("icx_getLastBlock", "")); r.Status != 500 {
		t.Fatalf("error_rate 1: %d %s", r.Status, r.Body)
	}
	rate := 0.0
	lat := int64(60)
	c.Node(0).SetFaults(Faults{ErrorRate: &rate, LatencyMS: &lat})
	start := time.Now()
	if r := post(t, base+"/api/v3", rpc("icx_getLastBlock", "")); r.Status != 200 {
		t.Fatalf("after recovery: %d %s", r.Status, r.Body)
	}
	if time.Since(start) < 60*time.Millisecond {
		t.Fatal("latency fault not applied")
	}
}

func TestDownResetsInFlightAndIdleConnections(t *testing.T) {
	c := startCluster(t, 1)
	base := c.URLs()[0]
	// An idle keep-alive connection is reset when the node goes down.
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	res, err := cl.Post(base+"/api/v3", "application/json", strings.NewReader(rpc("icx_getLastBlock", "")))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	down := true
	c.Node(0).SetFaults(Faults{Down: &down})
	_, err = cl.Post(base+"/api/v3", "application/json", strings.NewReader(rpc("icx_getLastBlock", "")))
	if err == nil {
		t.Fatal("expected a reset")
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("down must reset, not hang: %v", err)
	}
}

// A raw control character inside a JSON string: goloop decodes requests with
// Go's encoding/json, which refuses it (-32700), and so do iconsim and the
// edge, so the edge never accepts what a node would refuse or the other way round.
func TestRawControlCharacterIsAParseError(t *testing.T) {
	c := startCluster(t, 1)
	r := post(t, c.URLs()[0]+"/api/v3", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"icx_getBalance\",\"params\":{\"address\":\"hx\x01\"}}")
	if r.Status != http.StatusBadRequest || r.Error == nil || r.Error.Code != icon.CodeParseError {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	// Tabs and newlines between tokens are whitespace, not content.
	r = post(t, c.URLs()[0]+"/api/v3", "{\"jsonrpc\":\"2.0\",\n\t\"id\":1,\"method\":\"icx_getLastBlock\"}")
	if r.Status != http.StatusOK {
		t.Fatalf("whitespace between tokens: %d %s", r.Status, r.Body)
	}
}

func TestSlowFaultDelaysAShareOfRequests(t *testing.T) {
	c := startCluster(t, 1)
	base := c.URLs()[0]
	res, err := http.Post(base+"/_sim/faults", "application/json", strings.NewReader(`{"slow_ms":150,"slow_rate":0.5}`))
	if err != nil {
		t.Fatal(err)
	}
	var s Stats
	_ = json.NewDecoder(res.Body).Decode(&s)
	res.Body.Close()
	if s.Faults.SlowMS != 150 || s.Faults.SlowRate != 0.5 {
		t.Fatalf("faults %+v", s.Faults)
	}
	slow := 0
	const n = 40
	for range n {
		start := time.Now()
		if r := post(t, base+"/api/v3", rpc("icx_getLastBlock", "")); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if time.Since(start) >= 150*time.Millisecond {
			slow++
		}
	}
	// Binomial(40, 0.5): outside 8..32 with probability below 1e-4.
	if slow < 8 || slow > 32 {
		t.Fatalf("%d of %d requests slow at slow_rate 0.5", slow, n)
	}
}
