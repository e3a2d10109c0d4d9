package accesslog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeES speaks the parts of the Elasticsearch 8 HTTP API the shipper uses,
// over a real loopback HTTP server, so the official client and its bulk
// indexer run unmodified against it.
type fakeES struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	docs      []storedDoc
	calls     []string          // "PUT /_ilm/policy/x", "POST /_bulk", ... in arrival order
	templates map[string][]byte // index templates and ILM policies by path
	bulks     int               // _bulk requests received
	// Failure injection, consumed in order.
	bulkStatuses []int // whole-request statuses for the next _bulk requests
	itemRejects  int   // next N documents answered with a 429 item
	noProduct    bool  // omit X-Elastic-Product (not Elasticsearch)
	hang         chan struct{}
}

type storedDoc struct {
	Action string
	Index  string
	Source map[string]any
	Raw    string
}

func newFakeES(t *testing.T) *fakeES {
	f := &fakeES{t: t, templates: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.release()
		f.srv.Close()
	})
	return f
}

func (f *fakeES) URL() string { return f.srv.URL }

// hangBulk makes _bulk requests block until release (or the client gives up).
func (f *fakeES) hangBulk() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = make(chan struct{})
}

func (f *fakeES) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hang != nil {
		close(f.hang)
		f.hang = nil
	}
}

func (f *fakeES) snapshot() ([]storedDoc, []string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]storedDoc(nil), f.docs...), append([]string(nil), f.calls...), f.bulks
}

func (f *fakeES) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	noProduct, hang := f.noProduct, f.hang
	f.mu.Unlock()
	if !noProduct {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	w.Header().Set("Content-Type", "application/json")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case r.URL.Path == "/" && r.Method == http.MethodGet:
		fmt.Fprint(w, `{"name":"fake","cluster_name":"test","version":{"number":"8.19.0","build_flavor":"default"},"tagline":"You Know, for Search"}`)
	case strings.HasPrefix(r.URL.Path, "/_ilm/policy/") && r.Method == http.MethodPut,
		strings.HasPrefix(r.URL.Path, "/_index_template/") && r.Method == http.MethodPut:
		if !json.Valid(body) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"type":"parse_exception"},"status":400}`)
			return
		}
		f.mu.Lock()
		f.templates[r.URL.Path] = body
		f.mu.Unlock()
		fmt.Fprint(w, `{"acknowledged":true}`)
	case strings.HasSuffix(r.URL.Path, "/_bulk") && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		f.bulk(w, r, body, hang)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"type":"fake_unsupported","reason":%q},"status":404}`, r.Method+" "+r.URL.Path)
	}
}

func (f *fakeES) bulk(w http.ResponseWriter, r *http.Request, body []byte, hang chan struct{}) {
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
	}
	f.mu.Lock()
	f.bulks++
	status := 0
	if len(f.bulkStatuses) > 0 {
		status, f.bulkStatuses = f.bulkStatuses[0], f.bulkStatuses[1:]
	}
	f.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"type":"injected","reason":"status %d"},"status":%d}`, status, status)
		return
	}
	defaultIndex := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/_bulk")
	type result struct {
		Index  string `json:"_index"`
		ID     string `json:"_id,omitempty"`
		Status int    `json:"status"`
		Result string `json:"result,omitempty"`
		Error  any    `json:"error,omitempty"`
	}
	var items []map[string]result
	hasErrors := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var action map[string]struct {
			Index string `json:"_index"`
		}
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			http.Error(w, `{"error":{"type":"illegal_argument_exception","reason":"Malformed action/metadata line"},"status":400}`, http.StatusBadRequest)
			return
		}
		var op, index string
		for k, v := range action {
			op, index = k, v.Index
		}
		if index == "" {
			index = defaultIndex
		}
		if op != "create" && op != "index" {
			http.Error(w, `{"error":{"type":"illegal_argument_exception","reason":"unsupported action"},"status":400}`, http.StatusBadRequest)
			return
		}
		if !sc.Scan() {
			http.Error(w, `{"error":{"type":"illegal_argument_exception","reason":"missing source"},"status":400}`, http.StatusBadRequest)
			return
		}
		raw := string(sc.Bytes())
		var src map[string]any
		if err := json.Unmarshal([]byte(raw), &src); err != nil {
			hasErrors = true
			items = append(items, map[string]result{op: {Index: index, Status: 400,
				Error: map[string]string{"type": "document_parsing_exception", "reason": err.Error()}}})
			continue
		}
		f.mu.Lock()
		reject := f.itemRejects > 0
		if reject {
			f.itemRejects--
		} else {
			f.docs = append(f.docs, storedDoc{Action: op, Index: index, Source: src, Raw: raw})
		}
		n := len(f.docs)
		f.mu.Unlock()
		if reject {
			hasErrors = true
			items = append(items, map[string]result{op: {Index: index, Status: 429,
				Error: map[string]string{"type": "es_rejected_execution_exception", "reason": "rejected execution"}}})
			continue
		}
		items = append(items, map[string]result{op: {Index: index, ID: fmt.Sprint(n), Status: 201, Result: "created"}})
	}
	if items == nil {
		items = []map[string]result{}
	}
	out, _ := json.Marshal(map[string]any{"took": 1, "errors": hasErrors, "items": items})
	w.Write(out)
}
