package iconsim

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzRPC feeds arbitrary bodies to a node's JSON-RPC handler: it must answer
// every one with a well-formed status and never panic.
func FuzzRPC(f *testing.F) {
	for _, s := range []string{
		``, `{`, `[]`, `[1,2]`, `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`,
		`{"jsonrpc":"2.0","id":{"a":1},"method":"x"}`,
		`{"jsonrpc":"2.0","id":1,"method":"icx_getBlockByHeight","params":{"height":"0x0"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"icx_sendTransaction","params":{"from":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","to":"cx0000000000000000000000000000000000001234","stepLimit":"0x1","timestamp":"0x1","signature":"AA==","data":{"a":[null,{"b":1}]}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"icx_call","params":{"to":"cx0000000000000000000000000000000000001234","dataType":"call","data":{"method":"balanceOf","params":{"_owner":5}}}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"icx_getTransactionResult","params":{"txHash":"0x00"}},null]`,
	} {
		f.Add([]byte(s))
	}
	c, err := Start(Config{Listen: "127.0.0.1:0", BlockInterval: time.Hour, DefaultWaitTimeout: 10 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	n := c.Node(0)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/v3", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		n.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 503:
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}
