// Package chromium loads a page — a local file, or a URL served on loopback —
// in headless Chromium over the DevTools protocol and reports console
// errors, exceptions, requests that leave the page's origin, the values of
// JavaScript expressions and a screenshot. Tests use it to look at the
// load-test report and the status page as a person would.
package chromium

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Find returns the Chromium binary, or "" when none is installed
// (Debian: apt-get install chromium).
func Find() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Result is what the page did.
type Result struct {
	Errors     []string       // console errors, uncaught exceptions, log errors
	External   []string       // requests to anything but the page's origin (file: for files) and data: URLs
	Values     map[string]any // expression -> value
	Screenshot []byte         // PNG, when asked for
	Console    []string       // every console message, for diagnosis
}

// Options choose what Load does besides collecting errors.
type Options struct {
	Width, Height int      // viewport; default 1000×800
	Mobile        bool     // emulate a phone (touch, mobile viewport rules)
	NoScript      bool     // load with JavaScript disabled (Eval still runs)
	Eval          []string // JavaScript expressions evaluated after load
	Screenshot    bool     // full-page PNG
}

type msg struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

type conn struct {
	ws      *websocket.Conn
	mu      sync.Mutex
	next    int64
	waiting map[int64]chan msg
	events  chan msg
}

func (c *conn) call(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
	raw, _ := json.Marshal(params)
	if params == nil {
		raw = []byte("{}")
	}
	c.mu.Lock()
	c.next++
	id := c.next
	ch := make(chan msg, 1)
	c.waiting[id] = ch
	err := c.ws.WriteJSON(msg{ID: id, Method: method, Params: raw, SessionID: session})
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		return m.Result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (c *conn) read() {
	defer close(c.events)
	for {
		var m msg
		if err := c.ws.ReadJSON(&m); err != nil {
			return
		}
		if m.ID != 0 {
			c.mu.Lock()
			ch := c.waiting[m.ID]
			delete(c.waiting, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		select {
		case c.events <- m:
		default: // a flood of events must not block replies; errors come early
		}
	}
}

// Load opens path (a local file, or an http:// URL) and reports what
// happened. It is bounded by ctx; the browser is always stopped before it
// returns.
func Load(ctx context.Context, path string, opt Options) (*Result, error) {
	bin := Find()
	if bin == "" {
		return nil, errors.New("chromium not installed (Debian: apt-get install chromium)")
	}
	target, origin := path, "file:"
	if u, err := url.Parse(path); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		origin = u.Scheme + "://" + u.Host + "/"
	} else {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		target = "file://" + abs
	}
	if opt.Width == 0 {
		opt.Width, opt.Height = 1000, 800
	}
	profile, err := os.MkdirTemp("", "chromium-profile-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--user-data-dir="+profile, "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	wsURL := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), "DevTools listening on "); ok {
				wsURL <- strings.TrimSpace(u)
			}
		}
	}()
	var u string
	select {
	case u = <-wsURL:
	case <-ctx.Done():
		return nil, errors.New("chromium did not start its DevTools endpoint")
	}
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	c := &conn{ws: ws, waiting: map[int64]chan msg{}, events: make(chan msg, 4096)}
	go c.read()

	raw, err := c.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"})
	if err != nil {
		return nil, err
	}
	var tgt struct{ TargetID string }
	_ = json.Unmarshal(raw, &tgt)
	raw, err = c.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": tgt.TargetID, "flatten": true})
	if err != nil {
		return nil, err
	}
	var att struct{ SessionID string }
	_ = json.Unmarshal(raw, &att)
	s := att.SessionID
	for _, m := range []string{"Runtime.enable", "Log.enable", "Page.enable", "Network.enable"} {
		if _, err := c.call(ctx, s, m, nil); err != nil {
			return nil, err
		}
	}
	if _, err := c.call(ctx, s, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": opt.Width, "height": opt.Height, "deviceScaleFactor": 1, "mobile": opt.Mobile}); err != nil {
		return nil, err
	}
	if opt.NoScript {
		if _, err := c.call(ctx, s, "Emulation.setScriptExecutionDisabled", map[string]any{"value": true}); err != nil {
			return nil, err
		}
	}
	if _, err := c.call(ctx, s, "Page.navigate", map[string]any{"url": target}); err != nil {
		return nil, err
	}
	res := &Result{Values: map[string]any{}}
	collect := func(m msg) (loaded bool) {
		switch m.Method {
		case "Page.loadEventFired":
			return true
		case "Runtime.exceptionThrown":
			res.Errors = append(res.Errors, "exception: "+string(m.Params))
		case "Runtime.consoleAPICalled":
			var p struct {
				Type string
				Args []struct{ Value any }
			}
			_ = json.Unmarshal(m.Params, &p)
			line := fmt.Sprintf("console.%s %v", p.Type, p.Args)
			res.Console = append(res.Console, line)
			if p.Type == "error" || p.Type == "assert" {
				res.Errors = append(res.Errors, line)
			}
		case "Log.entryAdded":
			var p struct {
				Entry struct{ Level, Text, URL string }
			}
			_ = json.Unmarshal(m.Params, &p)
			if p.Entry.Level == "error" {
				res.Errors = append(res.Errors, "log: "+p.Entry.Text+" "+p.Entry.URL)
			}
		case "Network.requestWillBeSent":
			var p struct{ Request struct{ URL string } }
			_ = json.Unmarshal(m.Params, &p)
			if !strings.HasPrefix(p.Request.URL, origin) && !strings.HasPrefix(p.Request.URL, "data:") {
				res.External = append(res.External, p.Request.URL)
			}
		}
		return false
	}
	for loaded := false; !loaded; {
		select {
		case m, ok := <-c.events:
			if !ok {
				return nil, errors.New("chromium closed the DevTools connection")
			}
			loaded = collect(m)
		case <-ctx.Done():
			return nil, errors.New("page did not finish loading")
		}
	}
	// Late errors (e.g. from timers) get a moment to show up.
	settle := time.After(300 * time.Millisecond)
	for done := false; !done; {
		select {
		case m, ok := <-c.events:
			if !ok {
				done = true
			} else {
				collect(m)
			}
		case <-settle:
			done = true
		}
	}
	for _, expr := range opt.Eval {
		raw, err := c.call(ctx, s, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
		if err != nil {
			return nil, err
		}
		var r struct {
			Result           struct{ Value any }
			ExceptionDetails json.RawMessage
		}
		_ = json.Unmarshal(raw, &r)
		if len(r.ExceptionDetails) > 0 {
			return nil, fmt.Errorf("evaluating %q: %s", expr, r.ExceptionDetails)
		}
		res.Values[expr] = r.Result.Value
	}
	if opt.Screenshot {
		raw, err := c.call(ctx, s, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true})
		if err != nil {
			return nil, err
		}
		var r struct{ Data string }
		_ = json.Unmarshal(raw, &r)
		if res.Screenshot, err = base64.StdEncoding.DecodeString(r.Data); err != nil {
			return nil, err
		}
	}
	_, _ = c.call(ctx, "", "Browser.close", nil)
	return res, nil
}
