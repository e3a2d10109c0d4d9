package statuspage

import (
	"bytes"
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/icon-edge/icon-edge/routing"
)

var demoNow = time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC)

// demoPage is three regions, one down: eu serves the page, us is healthy
// (it had an outage two hours ago), asia went down twelve minutes ago.
func demoPage(t *testing.T) Page {
	t.Helper()
	hist := routing.NewHistory(6)
	for s := 6 * 3600; s > 0; s -= 10 {
		at := demoNow.Add(-time.Duration(s) * time.Second)
		hist.Record("eu", at, !(s < 3*3600 && s > 3*3600-40)) // a 30 s blip three hours ago
		hist.Record("us", at, s > 2*3600+600 || s < 2*3600)
		hist.Record("asia", at, s > 12*60)
	}
	self := routing.RegionSummary{Name: "eu", Ready: true, InSync: 3, Total: 3, Tip: 81234567, RequestRate: 412.5,
		ErrorRate: 0.0004, P50Ms: 11.2, P99Ms: 86, Version: "v1.4.0", PublicURL: "https://eu.rpc.example.org", ObservedAt: demoNow}
	// A peer's answer, as the poller decodes it: fields it should never
	// send (node addresses) are not kept.
	var us routing.RegionSummary
	raw := `{"name":"us","ready":true,"in_sync":2,"total":3,"tip":81234566,"request_rate":655.1,"error_rate":0.0011,
		"p50_ms":9.8,"p99_ms":120.4,"version":"v1.4.0","public_url":"https://us.rpc.example.org",
		"nodes":[{"url":"http://10.20.30.40:9000"}]}`
	if err := json.Unmarshal([]byte(raw), &us); err != nil {
		t.Fatal(err)
	}
	asia := routing.RegionSummary{Name: "asia", Ready: false, InSync: 0, Total: 3, Tip: 81234120, RequestRate: 0.4,
		ErrorRate: 0.62, P50Ms: 2500, P99Ms: 10000, Version: "v1.4.0"}
	peers := []routing.PeerState{
		{Name: "us", URL: "https://us.rpc.example.org", Summary: us, HasSummary: true, Healthy: true, Age: 3 * time.Second},
		{Name: "asia", URL: "https://asia.rpc.example.org", Summary: asia, HasSummary: true, Age: 12 * time.Minute,
			LastError: "Get \"https://asia.rpc.example.org/region.json\": dial tcp 10.99.0.7:443: connect: connection refused"},
	}
	return Build(self, peers, hist, demoNow)
}

func render(t *testing.T, p Page) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, p); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestPageShowsEveryRegionServerSide(t *testing.T) {
	html := render(t, demoPage(t))
	for _, want := range []string{
		"2 of 3 regions operational",
		`data-region="eu"`, `data-region="us"`, `data-region="asia"`, "this region",
		"#81,234,567", "at the tip", "1 block behind", "447 blocks behind",
		"412/s", "0.04 %", "11 ms / 86 ms", "2.5 s / 10.0 s", "62.0 %",
		"Last answer 12 min ago · figures are from then", "6 h ago",
		`<span class="badge down">Down</span>`, "https://us.rpc.example.org",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(html, "<svg class=\"chart\""); n != 3 {
		t.Errorf("%d charts", n)
	}
	if n := strings.Count(html, "<rect "); n != 3*barCount {
		t.Errorf("%d bars, want %d", n, 3*barCount)
	}
	// asia's last two bars are down; us had a red bar two hours ago.
	if !regexp.MustCompile(`class="bad"[^>]*><title>17:56–18:01 UTC: 0.0 % available`).MatchString(html) {
		t.Error("asia's outage is not drawn")
	}
}

func TestPageNeverShowsAnAddressOrLoadsAnything(t *testing.T) {
	html := render(t, demoPage(t))
	for _, leak := range []string{"10.20.30.40", "10.99.0.7", "connection refused", "dial tcp"} {
		if strings.Contains(html, leak) {
			t.Errorf("page shows %q", leak)
		}
	}
	if regexp.MustCompile(`(?i)<(link|img|iframe|object|embed)\b|\bsrc=|@import|url\(`).MatchString(html) {
		t.Error("page refers to an external resource")
	}
	for _, u := range regexp.MustCompile(`https?://[^\s"<]+`).FindAllString(html, -1) {
		if u != "https://eu.rpc.example.org" && u != "https://us.rpc.example.org" {
			t.Errorf("unexpected URL on the page: %s", u)
		}
	}
}

func TestPageOverallStatusAndEscaping(t *testing.T) {
	p := demoPage(t)
	p.Regions[2].Up = true
	if !strings.Contains(render(t, p), "All regions operational") {
		t.Error("all up")
	}
	for i := range p.Regions {
		p.Regions[i].Up = false
	}
	p.Regions[1].Known = false
	p.Regions[1].Summary.Name = `<script>alert(1)</script>`
	p.Refresh = -1
	html := render(t, p)
	if !strings.Contains(html, "No region is operational") || !strings.Contains(html, "No answer from this region yet.") {
		t.Error("all down")
	}
	if strings.Contains(html, "<script>alert") || strings.Contains(html, "location.reload") {
		t.Error("a peer's name must be escaped; Refresh < 0 drops the script")
	}
}

func TestHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	page := demoPage(t)
	srv := &fasthttp.Server{Handler: Handler(func() Page { return page })}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://" + ln.Addr().String() + "/status")
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 200 {
		t.Fatalf("%d %v", resp.StatusCode(), err)
	}
	if ct := string(resp.Header.ContentType()); ct != "text/html; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	if csp := string(resp.Header.Peek("Content-Security-Policy")); !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if !bytes.Contains(resp.Body(), []byte("2 of 3 regions operational")) {
		t.Error("body")
	}
	req.Header.SetMethod("POST")
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 405 {
		t.Fatalf("POST: %d %v", resp.StatusCode(), err)
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 81234567: "81,234,567", -1234: "-1,234"} {
		if got := groupDigits(in); got != want {
			t.Errorf("groupDigits(%d) = %q", in, got)
		}
	}
	if got := uptime([]routing.Sample{{Up: 9999, Total: 10000}}); got != "99.99 %" {
		t.Errorf("uptime %q", got)
	}
	if got := uptime([]routing.Sample{{Up: 99999, Total: 100000}}); got != "99.99 %" {
		t.Errorf("uptime just under 100 must not round up to 100: %q", got)
	}
}
