package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNode answers like goloop for the methods the tests use (shapes from
// the recorded samples in test/compat/testdata/samples) and records what arrives.
type fakeNode struct {
	t     *testing.T
	url   string
	delay time.Duration

	mu       sync.Mutex
	arrivals []arrival
	down     bool
	hook     func(body []byte) (status int, resp string, handled bool)
}

type arrival struct {
	at   time.Time
	path string
	body string
}

const maxArrivals = 200000

func newFakeNode(t *testing.T, delay time.Duration) *fakeNode {
	n := &fakeNode{t: t, delay: delay}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: n, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	n.url = "http://" + ln.Addr().String()
	return n
}

func (n *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if r.URL.Path == "/_sim/faults" {
		var f struct {
			Down bool `json:"down"`
		}
		_ = json.Unmarshal(body, &f)
		n.mu.Lock()
		n.down = f.Down
		n.mu.Unlock()
		w.Write([]byte(`{"ok":true}`))
		return
	}
	n.mu.Lock()
	if len(n.arrivals) < maxArrivals {
		n.arrivals = append(n.arrivals, arrival{now, r.URL.Path, string(body)})
	}
	down, hook := n.down, n.hook
	n.mu.Unlock()
	if n.delay > 0 {
		time.Sleep(n.delay)
	}
	if down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if hook != nil {
		if status, resp, ok := hook(body); ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, resp)
			return
		}
	}
	var req struct {
		ID     json.RawMessage   `json:"id"`
		Method string            `json:"method"`
		Params map[string]string `json:"params"`
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if strings.HasPrefix(strings.TrimSpace(string(body)), "[") {
		io.WriteString(w, `[{"jsonrpc":"2.0","result":"0x1","id":1}]`)
		return
	}
	if err := json.Unmarshal(body, &req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"jsonrpc":"2.0","error":{"code":-32700,"message":"ParseError"},"id":null}`)
		return
	}
	id := string(req.ID)
	if id == "" {
		id = "null"
	}
	switch req.Method {
	case "icx_getLastBlock", "icx_getBlockByHeight":
		h := 700
		fmt.Sscanf(req.Params["height"], "0x%x", &h)
		fmt.Fprintf(w, `{"jsonrpc":"2.0","result":{"block_hash":"%064x","confirmed_transaction_list":[{"from":"hx5556bd7dfbb3289fdb4da5de36caa3bcb3b914d7","to":"hx%040x","txHash":"0x%064x","version":"0x3"}],"height":%d,"version":"2.0"},"id":%s}`+"\n", h, h, h, h, id)
	case "icx_getNetworkInfo":
		fmt.Fprintf(w, `{"jsonrpc":"2.0","result":{"platform":"basic","nid":"0x3","channel":"icon_dex"},"id":%s}`+"\n", id)
	case "icx_unknown":
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"MethodNotFound"},"id":%s}`+"\n", id)
	default:
		fmt.Fprintf(w, `{"jsonrpc":"2.0","result":"0x1","id":%s}`+"\n", id)
	}
}

func (n *fakeNode) got() []arrival {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]arrival(nil), n.arrivals...)
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
