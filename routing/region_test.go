package routing

import (
	"encoding/json"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestRegionJSONHasTheDocumentedFieldsAndNothingElse(t *testing.T) {
	clk := newFakeClock()
	w := newWindowClock(clk.Now)
	clk.Add(time.Minute)
	for i := range 120 {
		w.Observe(time.Duration(10+i%2*10)*time.Millisecond, i%40 == 0)
	}
	s := RegionSummary{Name: "eu", Ready: true, InSync: 2, Total: 3, Tip: 12345, Version: "v1.2.3",
		PublicURL: "https://eu.rpc.example.org", ObservedAt: clk.Now()}
	s.SetWindow(w.Stats())
	if !near(s.RequestRate, 2, 0.02) || s.ErrorRate != 0.025 || s.P50Ms < 9.4 || s.P50Ms > 10.6 || s.P99Ms < 18.8 || s.P99Ms > 21.2 {
		t.Fatalf("window figures %+v", s)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: SummaryHandler(func() RegionSummary { return s })}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown()
	status, body, err := fasthttp.GetTimeout(nil, "http://"+ln.Addr().String()+"/region.json", 5*time.Second)
	if err != nil || status != 200 {
		t.Fatalf("%d %v", status, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := "error_rate in_sync name observed_at p50_ms p99_ms public_url ready request_rate tip total version"
	if strings.Join(keys, " ") != want {
		t.Fatalf("keys %v\nwant %s", keys, want)
	}
	if doc["tip"] != 12345.0 || doc["in_sync"] != 2.0 || doc["name"] != "eu" {
		t.Fatalf("doc %s", body)
	}

	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://" + ln.Addr().String() + "/region.json")
	req.Header.SetMethod("POST")
	if err := fasthttp.DoTimeout(req, resp, 5*time.Second); err != nil || resp.StatusCode() != 405 {
		t.Fatalf("POST: %d %v", resp.StatusCode(), err)
	}
}

func TestSummaryCheck(t *testing.T) {
	good := RegionSummary{Name: "eu", InSync: 1, Total: 1}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []RegionSummary{{}, {Name: "x", InSync: 2, Total: 1}, {Name: "x", Tip: -1}, {Name: "x", ErrorRate: 2}} {
		if bad.Check() == nil {
			t.Errorf("%+v passed", bad)
		}
	}
}
