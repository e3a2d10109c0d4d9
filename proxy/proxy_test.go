package proxy

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/icon-edge/icon-edge/upstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// newTestServer builds the request path over a pool with no reachable node:
// everything answered here is answered by the edge itself.
func newTestServer(t testing.TB, cfg Config, with ...func(*Options)) *Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := upstream.New(upstream.Config{Upstreams: []string{"http://127.0.0.1:1"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o := Options{Config: cfg, Pool: pool, Metrics: reg, Gatherer: reg, Log: log}
	for _, f := range with {
		f(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func do(s *Server, method, path, body string) (int, string) {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(path)
	ctx.Request.SetBodyString(body)
	s.Handler(&ctx)
	return ctx.Response.StatusCode(), string(ctx.Response.Body())
}

// The expected bodies are goloop's, byte for byte, from test/compat/testdata/samples.
func TestEdgeAnswersBadInputLikeGoloop(t *testing.T) {
	s := newTestServer(t, Config{})
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		{"empty body", ``, 400, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"InvalidRequest: fail to unmarshal, EOF"},"id":null}`},
		{"malformed", `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"`, 400, `{"jsonrpc":"2.0","error":{"code":-32700,"message":"ParseError"},"id":null}`},
		{"not json", `hello`, 400, `{"jsonrpc":"2.0","error":{"code":-32700,"message":"ParseError"},"id":null}`},
		{"missing method", `{"jsonrpc": "2.0", "id": 1}`, 400, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"InvalidRequest: fail to validate, required('method')"},"id":1}`},
		{"wrong version", `{"jsonrpc": "1.0", "id": 1, "method": "icx_getLastBlock"}`, 400, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"InvalidRequest: fail to validate, version('jsonrpc')"},"id":1}`},
		{"missing version", `{"id": 1, "method": "icx_getLastBlock"}`, 400, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"InvalidRequest: fail to validate, required('jsonrpc')"},"id":1}`},
		{"unknown field", `{"jsonrpc": "2.0", "id": 1, "method": "icx_getLastBlock", "foo": 1}`, 400, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"InvalidRequest: fail to unmarshal, unknown field 'foo'"},"id":1}`},
		{"unknown method", `{"jsonrpc": "2.0", "id": 1, "method": "icx_noSuchMethod"}`, 400, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"MethodNotFound"},"id":1}`},
		{"debug method on v3", `{"jsonrpc": "2.0", "id": 1, "method": "debug_estimateStep", "params": {}}`, 400, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"MethodNotFound"},"id":1}`},
		{"params array", `{"jsonrpc": "2.0", "id": 1, "method": "icx_getBalance", "params": ["hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7"]}`, 400, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"InvalidParams: fail to unmarshal, 'params' of request must be object type"},"id":1}`},
		{"object id", `{"jsonrpc": "2.0", "id": {"a": 1}, "method": "icx_getTotalSupply"}`, 400, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"InvalidRequest: fail to validate, id('id')"},"id":{"a":1}}`},
		{"empty batch", `[]`, 400, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"InvalidRequest"},"id":null}`},
		{"batch of non-objects", `[1,2]`, 200, `[{"jsonrpc":"2.0","error":{"code":-32600,"message":"InvalidRequest: fail to unmarshal, request must be object type"},"id":null},{"jsonrpc":"2.0","error":{"code":-32600,"message":"InvalidRequest: fail to unmarshal, request must be object type"},"id":null}]`},
		{"read notification", `{"jsonrpc": "2.0", "method": "icx_getTotalSupply"}`, 200, ``},
		{"read with null id", `{"jsonrpc": "2.0", "id": null, "method": "icx_getTotalSupply"}`, 200, ``},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := do(s, "POST", "/api/v3/icon_dex", c.body)
			if status != c.status || strings.TrimSuffix(body, "\n") != c.want {
				t.Fatalf("got %d %q\nwant %d %q", status, body, c.status, c.want)
			}
		})
	}
}

func TestBatchLimitsAndUnavailableNodes(t *testing.T) {
	s := newTestServer(t, Config{MaxBatch: 3})
	status, body := do(s, "POST", "/api/v3", `[{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"},{"jsonrpc":"2.0","id":2,"method":"icx_getLastBlock"},{"jsonrpc":"2.0","id":3,"method":"icx_getLastBlock"},{"jsonrpc":"2.0","id":4,"method":"icx_getLastBlock"}]`)
	if status != 503 || !strings.Contains(body, `"data":"too many request"`) || !strings.Contains(body, `"id":null`) {
		t.Fatalf("over-limit batch: %d %s", status, body)
	}
	// Items the edge cannot serve still get an answer each, with their ids.
	status, body = do(s, "POST", "/api/v3", `[{"jsonrpc":"2.0","id":"a","method":"icx_getLastBlock"},{"jsonrpc":"2.0","id":"b","method":"nope"}]`)
	var items []map[string]any
	if err := json.Unmarshal([]byte(body), &items); err != nil || status != 200 || len(items) != 2 {
		t.Fatalf("batch answer %d %s (%v)", status, body, err)
	}
	if items[0]["id"] != "a" || items[1]["id"] != "b" {
		t.Fatalf("ids out of order: %s", body)
	}
	// A single read with no node: 503 for balancers, a JSON-RPC error for clients.
	status, body = do(s, "POST", "/api/v3", `{"jsonrpc":"2.0","id":9,"method":"icx_getLastBlock"}`)
	if status != 503 || !strings.Contains(body, `"code":-32000`) || !strings.Contains(body, `"id":9`) {
		t.Fatalf("no node: %d %s", status, body)
	}
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI("/api/v3")
	ctx.Request.SetBodyString(`{"jsonrpc":"2.0","id":9,"method":"icx_getLastBlock"}`)
	s.Handler(&ctx)
	if string(ctx.Response.Header.Peek("Retry-After")) != "1" {
		t.Fatalf("a 503 for no node must advise a retry: %q", ctx.Response.Header.Peek("Retry-After"))
	}
}

func TestPathsAndDebugAPI(t *testing.T) {
	s := newTestServer(t, Config{})
	for _, c := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/api/v3", 404, "Not Found <nil>"},
		{"PUT", "/api/v3", 404, "Not Found <nil>"},
		{"POST", "/api/v3/a/b", 404, "Not Found <nil>"},
		{"POST", "/api/v3d", 404, "debug API is disabled"},
		{"GET", "/admin/chain", 404, "Not Found <nil>"},
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/api/v3/icon_dex/block", 400, "Bad Request\nwebsocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header"},
		{"GET", "/api/v3//event/", 400, "Bad Request\nwebsocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header"},
		{"GET", "/api/v3/block", 404, "Not Found <nil>"}, // no channel segment: 404 on goloop
		{"GET", "/api/v3/event", 404, "Not Found <nil>"},
		{"GET", "/api/v3/a/b/block", 404, "Not Found <nil>"},
		{"GET", "/readyz", 503, "no upstream node in sync"},
	} {
		status, body := do(s, c.method, c.path, "")
		if status != c.status || body != c.body {
			t.Errorf("%s %s = %d %q, want %d %q", c.method, c.path, status, body, c.status, c.body)
		}
	}
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("OPTIONS")
	ctx.Request.SetRequestURI("/api/v3")
	ctx.Request.Header.Set("Origin", "http://example.test")
	s.Handler(&ctx)
	if ctx.Response.StatusCode() != 204 || string(ctx.Response.Header.Peek("Access-Control-Allow-Origin")) != "*" {
		t.Fatalf("CORS preflight: %d", ctx.Response.StatusCode())
	}
	d := newTestServer(t, Config{DebugAPI: true})
	if status, body := do(d, "POST", "/api/v3d/icon_dex", `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`); status != 400 || !strings.Contains(body, "MethodNotFound") {
		t.Fatalf("v3 method on the debug API: %d %s", status, body)
	}
}

func TestIconOptionTimeout(t *testing.T) {
	for in, want := range map[string]int64{"timeout=5000": 5000, "debug=true, timeout=100": 100, " timeout = 7 ": 7} {
		if got, ok := iconOptionTimeout([]byte(in)); !ok || got != want {
			t.Errorf("%q → %d %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "debug=true", "timeout=abc", "timeout=-1"} {
		if _, ok := iconOptionTimeout([]byte(in)); ok {
			t.Errorf("%q accepted", in)
		}
	}
}

// FuzzRequest feeds arbitrary bodies through the whole request path: it must
// never panic and must always answer with JSON (or nothing, for notifications).
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{``, `{}`, `[]`, `[1,2]`, `null`, `"x"`, `{"jsonrpc":"2.0","id":1,"method":"icx_getLastBlock"}`,
		`{"jsonrpc":"2.0","id":1,"method":"icx_getBlockByHeight","params":{"height":"0x10"}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"icx_getBalance","params":{"address":"hx0"}},{"jsonrpc":"2.0","method":"icx_sendTransaction","params":{}}]`,
		`{"jsonrpc":"2.0","id":{"a":[1]},"method":5}`, `{"jsonrpc":"2.0","id":1,"method":"icx_sendTransaction","params":{"version":"0x3"}}`} {
		f.Add(seed)
	}
	s := newTestServer(f, Config{AttemptTimeout: 1, RequestTimeout: 1})
	f.Fuzz(func(t *testing.T, body string) {
		status, out := do(s, "POST", "/api/v3", body)
		if status >= 500 && status != 502 && status != 503 && status != 504 {
			t.Fatalf("status %d for %q", status, body)
		}
		if out != "" && !json.Valid([]byte(out)) {
			t.Fatalf("invalid JSON answer %q for %q", out, body)
		}
	})
}

// A panic anywhere under the handler is answered, not fatal.
func TestHandlerRecoversPanics(t *testing.T) {
	s := newTestServer(t, Config{}, func(o *Options) { o.WebSocket = panicky{} })
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/api/v3/icon_dex/block")
	s.Handler(&ctx)
	if ctx.Response.StatusCode() != 500 || !strings.Contains(string(ctx.Response.Body()), "-32603") {
		t.Fatalf("got %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

type panicky struct{}

func (panicky) IsWebSocket(*fasthttp.RequestCtx) bool { return true }
func (panicky) HandleFastHTTP(*fasthttp.RequestCtx)   { panic("boom") }
