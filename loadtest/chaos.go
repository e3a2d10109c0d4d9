package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Hook is one chaos action: an HTTP request fired At into the run, e.g. to
// tell the simulator to take a node down.
type Hook struct {
	At     time.Duration
	Method string
	URL    string
	Body   string
}

// HookEvent is what a fired hook got back, for the report.
type HookEvent struct {
	AtMs   float64 `json:"at_ms"`
	Spec   string  `json:"spec"`
	Status int     `json:"status,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// ParseHook parses "OFFSET:METHOD:URL[:BODY]", e.g.
// `10s:POST:http://127.0.0.1:9182/_sim/faults:{"down":true}`. The URL must
// have a path: the body starts at the first ':' after the URL's path begins.
func ParseHook(s string) (Hook, error) {
	bad := func(why string) (Hook, error) {
		return Hook{}, fmt.Errorf("loadtest: hook %q: %s (want OFFSET:METHOD:URL[:BODY])", s, why)
	}
	off, rest, ok := strings.Cut(s, ":")
	if !ok {
		return bad("no offset")
	}
	at, err := time.ParseDuration(off)
	if err != nil || at < 0 {
		return bad("bad offset")
	}
	method, rest, ok := strings.Cut(rest, ":")
	if !ok || method == "" || strings.ToUpper(method) != method {
		return bad("bad method")
	}
	schemeEnd := strings.Index(rest, "://")
	if schemeEnd < 0 {
		return bad("no URL")
	}
	pathStart := strings.IndexByte(rest[schemeEnd+3:], '/')
	if pathStart < 0 {
		return bad("URL has no path")
	}
	pathStart += schemeEnd + 3
	rawURL, body := rest, ""
	if i := strings.IndexByte(rest[pathStart:], ':'); i >= 0 {
		rawURL, body = rest[:pathStart+i], rest[pathStart+i+1:]
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("bad URL")
	}
	return Hook{At: at, Method: method, URL: rawURL, Body: body}, nil
}

func (h Hook) String() string {
	s := h.At.String() + ":" + h.Method + ":" + h.URL
	if h.Body != "" {
		s += ":" + h.Body
	}
	return s
}

var hookClient = &http.Client{Timeout: 5 * time.Second}

func (h Hook) fire(ctx context.Context, start time.Time, out chan<- HookEvent) {
	t := time.NewTimer(time.Until(start.Add(h.At)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		// Said in the report: a hook that never fired must not look like
		// a fault the target survived.
		out <- HookEvent{AtMs: float64(h.At.Microseconds()) / 1000, Spec: h.String(), Error: "not fired: the run ended first"}
		return
	case <-t.C:
	}
	ev := HookEvent{AtMs: float64(time.Since(start).Microseconds()) / 1000, Spec: h.String()}
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), h.Method, h.URL, bytes.NewReader([]byte(h.Body)))
	if err == nil {
		if h.Body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		var resp *http.Response
		resp, err = hookClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			ev.Status = resp.StatusCode
		}
	}
	if err != nil {
		ev.Error = err.Error()
	}
	out <- ev
}
