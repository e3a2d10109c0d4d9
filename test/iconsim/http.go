package iconsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/icon-edge/icon-edge/icon"
	"github.com/valyala/fastjson"
)

const maxBody = 1 << 20

var (
	parsers fastjson.ParserPool
	bufs    = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
)

func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "Origin")
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/_sim/"):
		n.serveSim(w, r)
	case r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "":
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Max-Age", "3600")
		h.Set("Vary", "Access-Control-Request-Headers")
		w.WriteHeader(http.StatusNoContent)
	case p == "/metrics" && r.Method == http.MethodGet:
		n.serveMetrics(w)
	case p == "/api/v3d" || strings.HasPrefix(p, "/api/v3d/"):
		plain(w, http.StatusNotFound, "debug API is disabled")
	case p == "/api/rosetta" || strings.HasPrefix(p, "/api/rosetta/"):
		plain(w, http.StatusNotFound, "rosetta API is disabled")
	case p == "/api/v3" || strings.HasPrefix(p, "/api/v3/"):
		n.serveAPI(w, r, strings.TrimPrefix(p, "/api/v3"))
	default:
		plain(w, http.StatusNotFound, "Not Found <nil>")
	}
}

func plain(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

// serveAPI routes /api/v3[/{channel}][/block|/event]; rest is the part after /api/v3.
func (n *Node) serveAPI(w http.ResponseWriter, r *http.Request, rest string) {
	ch := n.cluster.chain.channel
	segs := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	if rest == "" {
		segs = nil
	}
	// A trailing slash is the same resource.
	if len(segs) > 0 && segs[len(segs)-1] == "" && len(segs) > 1 {
		segs = segs[:len(segs)-1]
	}
	switch {
	case len(segs) == 2 && (segs[1] == "block" || segs[1] == "event"):
		if segs[0] != "" && segs[0] != ch {
			plain(w, http.StatusNotFound, "No channel")
			return
		}
		if r.Method != http.MethodGet {
			plain(w, http.StatusNotFound, "Not Found <nil>")
			return
		}
		n.serveWS(w, r, segs[1])
		return
	case len(segs) > 1:
		plain(w, http.StatusNotFound, "Not Found <nil>")
		return
	}
	if len(segs) == 1 && segs[0] != "" && segs[0] != ch {
		plain(w, http.StatusNotFound, "No channel")
		return
	}
	if r.Method != http.MethodPost {
		plain(w, http.StatusNotFound, "Not Found <nil>")
		return
	}
	if !n.injectFaults(w, r) {
		return
	}
	n.serveRPC(w, r)
}

func (n *Node) serveRPC(w http.ResponseWriter, r *http.Request) {
	n.statMu.Lock()
	n.posts++
	n.statMu.Unlock()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	bp := bufs.Get().(*[]byte)
	out := (*bp)[:0]
	defer func() {
		if cap(out) <= 1<<20 {
			*bp = out
		}
		bufs.Put(bp)
	}()
	status := http.StatusOK
	timeout := iconOptionsTimeout(r.Header.Get("Icon-Options"), n.cluster.cfg.DefaultWaitTimeout)
	trimmed := bytes.TrimSpace(body)
	switch {
	case err != nil:
		status, out = http.StatusBadRequest, icon.AppendResponseError(out, nil, icon.ErrParse)
	case len(trimmed) == 0:
		status, out = http.StatusBadRequest, icon.AppendResponseError(out, nil, icon.ErrEmptyBody)
	default:
		pr := parsers.Get()
		defer parsers.Put(pr)
		v, perr := pr.ParseBytes(trimmed)
		switch {
		case perr != nil || hasRawControl(trimmed):
			// goloop decodes with Go's encoding/json, which refuses raw
			// control characters in strings; fastjson would let them through.
			status, out = http.StatusBadRequest, icon.AppendResponseError(out, nil, icon.ErrParse)
		case v.Type() == fastjson.TypeArray:
			status, out = n.serveBatch(r, v, timeout, out)
		default:
			var isErr bool
			out, isErr = n.serveItem(r.Context(), v, timeout, out)
			if isErr {
				status = http.StatusBadRequest
			}
		}
	}
	if n.down.Load() { // went down while serving
		failDown(w)
		return
	}
	if len(out) == 0 {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	out = append(out, '\n')
	_, _ = w.Write(out)
}

func (n *Node) serveBatch(r *http.Request, v *fastjson.Value, timeout time.Duration, out []byte) (int, []byte) {
	items, _ := v.Array()
	if len(items) == 0 {
		return http.StatusBadRequest, icon.AppendResponseError(out, nil, icon.ErrInvalidRequest)
	}
	if limit := n.cluster.cfg.RPCBatchLimit; limit > 0 && len(items) > limit {
		return http.StatusServiceUnavailable, icon.AppendResponseError(out, nil, icon.ErrTooManyRequests)
	}
	start := len(out)
	out = append(out, '[')
	some := false
	for _, it := range items {
		before := len(out)
		if some {
			out = append(out, ',')
		}
		var res []byte
		res, _ = n.serveItem(r.Context(), it, timeout, out)
		if len(res) == len(out) { // notification: nothing appended
			out = out[:before]
			continue
		}
		out = res
		some = true
	}
	if !some {
		return http.StatusOK, out[:start]
	}
	return http.StatusOK, append(out, ']')
}

func (n *Node) serveMetrics(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	ch := n.cluster.chain
	labels := fmt.Sprintf(`{channel=%q,hostname="iconsim%d"}`, ch.channel, n.index)
	fmt.Fprintf(w, "# HELP goloop_consensus_height height Aggregated LastValue\n# TYPE goloop_consensus_height gauge\ngoloop_consensus_height%s %d\n", labels, n.Height())
	fmt.Fprintf(w, "# HELP goloop_consensus_round round Aggregated LastValue\n# TYPE goloop_consensus_round gauge\ngoloop_consensus_round%s 0\n", labels)
	ch.mu.RLock()
	pool := len(ch.pool)
	ch.mu.RUnlock()
	fmt.Fprintf(w, "# HELP goloop_txpool_user_size user_size Aggregated LastValue\n# TYPE goloop_txpool_user_size gauge\ngoloop_txpool_user_size%s %d\n", labels, pool)
}

func (n *Node) serveSim(w http.ResponseWriter, r *http.Request) {
	if ci, ok := r.Context().Value(ctxKey{}).(*connInfo); ok {
		ci.sim.Store(true)
	}
	switch {
	case r.URL.Path == "/_sim/stats" && r.Method == http.MethodGet:
	case r.URL.Path == "/_sim/faults" && r.Method == http.MethodPost:
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		var f Faults
		if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
			plain(w, http.StatusBadRequest, "bad faults: "+err.Error())
			return
		}
		n.SetFaults(f)
	case r.URL.Path == "/_sim/faults" && r.Method == http.MethodGet:
	default:
		plain(w, http.StatusNotFound, "Not Found <nil>")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(n.Stats())
}

// hasRawControl reports raw control characters other than JSON whitespace.
func hasRawControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return true
		}
	}
	return false
}
