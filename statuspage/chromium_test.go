package statuspage

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/icon-edge/icon-edge/internal/chromium"
)

// The page, served over real loopback HTTP by Handler, as Chromium shows
// it: three regions, one down, no console error, no request leaving the
// page, readable on a phone and with JavaScript off.
// STATUS_SCREENSHOT=path saves the desktop screenshot (docs/status-page.png
// comes from `make status-screenshot`).
func TestStatusPageInChromium(t *testing.T) {
	if chromium.Find() == "" {
		t.Skip("chromium not installed: apt-get install chromium (Debian) to check the status page in a browser")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	page := demoPage(t)
	srv := &fasthttp.Server{Handler: Handler(func() Page { return page })}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown()
	url := "http://" + ln.Addr().String() + "/status"

	const (
		regions  = `document.querySelectorAll('section.region').length`
		down     = `Array.from(document.querySelectorAll('section.region.down')).map(e => e.dataset.region).join(',')`
		overall  = `document.getElementById('overall').textContent.trim()`
		bars     = `document.querySelectorAll('svg.chart rect').length`
		chartW   = `Math.round(document.querySelector('svg.chart').getBoundingClientRect().width)`
		overflow = `document.documentElement.scrollWidth - window.innerWidth`
		columns  = `new Set(Array.from(document.querySelectorAll('section.region')).map(e => Math.round(e.getBoundingClientRect().left))).size`
		text     = `document.body.innerText`
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	desk, err := chromium.Load(ctx, url, chromium.Options{Width: 1200, Height: 620, Screenshot: true,
		Eval: []string{regions, down, overall, bars, chartW, overflow, columns}})
	if err != nil {
		t.Fatal(err)
	}
	if len(desk.Errors) > 0 || len(desk.External) > 0 {
		t.Fatalf("console errors %q, requests outside the page %q", desk.Errors, desk.External)
	}
	v := desk.Values
	if v[regions] != 3.0 || v[down] != "asia" || v[overall] != "2 of 3 regions operational" || v[bars] != float64(3*barCount) {
		t.Fatalf("desktop: %v", v)
	}
	if v[columns] != 3.0 || v[chartW].(float64) < 250 || v[overflow] != 0.0 {
		t.Fatalf("desktop layout: three cards side by side with wide charts, no horizontal scroll: %v", v)
	}
	if path := os.Getenv("STATUS_SCREENSHOT"); path != "" {
		if err := os.WriteFile(path, desk.Screenshot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}

	phone, err := chromium.Load(ctx, url, chromium.Options{Width: 390, Height: 844, Mobile: true, Screenshot: os.Getenv("STATUS_PHONE_SCREENSHOT") != "",
		Eval: []string{regions, overflow, columns, chartW}})
	if err != nil {
		t.Fatal(err)
	}
	if len(phone.Errors) > 0 || phone.Values[regions] != 3.0 || phone.Values[overflow] != 0.0 || phone.Values[columns] != 1.0 ||
		phone.Values[chartW].(float64) < 300 {
		t.Fatalf("phone: one column, no horizontal scroll: %v %q", phone.Values, phone.Errors)
	}
	if path := os.Getenv("STATUS_PHONE_SCREENSHOT"); path != "" {
		if err := os.WriteFile(path, phone.Screenshot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	noJS, err := chromium.Load(ctx, url, chromium.Options{NoScript: true, Eval: []string{text}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := noJS.Values[text].(string)
	for _, want := range []string{"2 of 3 regions operational", "ASIA", "Down", "#81,234,567", "447 blocks behind"} {
		if !strings.Contains(body, want) {
			t.Errorf("without JavaScript the page lacks %q:\n%s", want, body)
		}
	}
}
