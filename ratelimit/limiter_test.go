package ratelimit

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icon-edge/icon-edge/internal/promtest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeClock lets tests move time without sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestLimiter(t testing.TB, cfg Config) (*Limiter, *fakeClock, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	l, err := New(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l.now = clk.now
	return l, clk, reg
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func rejections(l *Limiter, reason, tier string) float64 {
	return testutil.ToFloat64(l.m.rejected.WithLabelValues(reason, tier))
}

func TestClientOverLimitGets429OthersUnaffected(t *testing.T) {
	l, clk, _ := newTestLimiter(t, Config{Enabled: true, RequestsPerSecond: 10, Burst: 5})
	a := l.Identify(ip("198.51.100.1"), nil)
	b := l.Identify(ip("198.51.100.2"), nil)
	for i := 0; i < 5; i++ {
		if d := l.Admit(a, "icx_getLastBlock", false); !d.OK {
			t.Fatalf("request %d within burst refused: %+v", i, d)
		}
	}
	d := l.Admit(a, "icx_getLastBlock", false)
	if d.OK || d.Reason != ReasonRate || d.HTTPStatus() != 429 {
		t.Fatalf("over the limit: %+v", d)
	}
	// One token comes back every 100 ms at 10/s.
	if d.RetryAfter <= 0 || d.RetryAfter > 100*time.Millisecond || d.RetryAfterSeconds() != 1 {
		t.Fatalf("RetryAfter %v (%d s)", d.RetryAfter, d.RetryAfterSeconds())
	}
	for i := 0; i < 5; i++ {
		if d := l.Admit(b, "icx_getLastBlock", false); !d.OK {
			t.Fatalf("other client refused: %+v", d)
		}
	}
	clk.advance(d.RetryAfter)
	if d := l.Admit(a, "icx_getLastBlock", false); !d.OK {
		t.Fatalf("refused after waiting Retry-After: %+v", d)
	}
	if d := l.Admit(a, "icx_getLastBlock", false); d.OK {
		t.Fatal("a second request right after got through")
	}
	if got := rejections(l, ReasonRate, AnonymousTier); got != 2 {
		t.Errorf("rejections{rate,anonymous} = %v, want 2", got)
	}
}

func TestSpoofedHeadersFromUntrustedPeerIgnored(t *testing.T) {
	l, _, _ := newTestLimiter(t, Config{Enabled: true, RequestsPerSecond: 1, Burst: 3,
		TrustedProxies: []string{"173.245.48.0/20", "2400:cb00::/32"}})
	attacker := ip("203.0.113.7")
	// A client rotating X-Forwarded-For and CF-Connecting-IP on every
	// request stays one client.
	admitted := 0
	for i := 0; i < 20; i++ {
		hdr := map[string]string{
			"X-Forwarded-For":  fmt.Sprintf("10.0.%d.%d", i/256, i%256),
			"CF-Connecting-IP": fmt.Sprintf("192.0.2.%d", i),
		}
		got := l.ClientIP(attacker, func(n string) []byte { return []byte(hdr[n]) })
		if got != attacker {
			t.Fatalf("untrusted peer's header believed: %v", got)
		}
		if l.Admit(l.Identify(got, nil), "icx_getBalance", false).OK {
			admitted++
		}
	}
	if admitted != 3 {
		t.Fatalf("%d of 20 admitted, want the burst of 3", admitted)
	}
}

func TestClientIPFromTrustedProxy(t *testing.T) {
	l, _, _ := newTestLimiter(t, Config{TrustedProxies: []string{"173.245.48.0/20", "2400:cb00::/32", "10.0.0.0/8"}})
	cf := ip("173.245.48.10")
	cases := []struct {
		name string
		peer netip.Addr
		hdr  map[string]string
		want string
	}{
		{"cf header", cf, map[string]string{"CF-Connecting-IP": "198.51.100.9", "X-Forwarded-For": "6.6.6.6"}, "198.51.100.9"},
		{"cf header v6", ip("2400:cb00::1"), map[string]string{"CF-Connecting-IP": " 2001:db8::5 "}, "2001:db8::5"},
		{"xff rightmost untrusted", cf, map[string]string{"X-Forwarded-For": "6.6.6.6, 198.51.100.9, 10.1.2.3"}, "198.51.100.9"},
		{"xff all trusted", cf, map[string]string{"X-Forwarded-For": "10.0.0.1,10.0.0.2"}, "10.0.0.1"},
		{"xff with port", cf, map[string]string{"X-Forwarded-For": "198.51.100.9:4711"}, "198.51.100.9"},
		{"xff v6 with port", cf, map[string]string{"X-Forwarded-For": "[2001:db8::7]:443"}, "2001:db8::7"},
		{"xff malformed stops walk", cf, map[string]string{"X-Forwarded-For": "198.51.100.9, garbage, 10.9.9.9"}, "10.9.9.9"},
		{"xff malformed last hop", cf, map[string]string{"X-Forwarded-For": "198.51.100.9, nonsense"}, "173.245.48.10"},
		{"bad cf header", cf, map[string]string{"CF-Connecting-IP": "not-an-ip"}, "173.245.48.10"},
		{"zone refused", cf, map[string]string{"CF-Connecting-IP": "fe80::1%eth0"}, "173.245.48.10"},
		{"no headers", cf, nil, "173.245.48.10"},
		{"v4-mapped peer", ip("::ffff:173.245.48.10"), map[string]string{"CF-Connecting-IP": "198.51.100.9"}, "198.51.100.9"},
		{"untrusted peer", ip("198.51.100.200"), map[string]string{"CF-Connecting-IP": "1.1.1.1"}, "198.51.100.200"},
	}
	for _, tc := range cases {
		got := l.ClientIP(tc.peer, func(n string) []byte {
			if v, ok := tc.hdr[n]; ok {
				return []byte(v)
			}
			return nil
		})
		if got != ip(tc.want) {
			t.Errorf("%s: got %v, want %s", tc.name, got, tc.want)
		}
	}
}

func TestMethodCostsAndWrites(t *testing.T) {
	l, clk, _ := newTestLimiter(t, Config{Enabled: true, RequestsPerSecond: 10, Burst: 10, WriteRequestsPerSecond: 1, WriteBurst: 2})
	c := l.Identify(ip("198.51.100.1"), nil)
	if l.Cost("icx_call") != 5 || l.Cost("icx_getLastBlock") != 1 || l.Cost("icx_getTotalSupply") != 1 {
		t.Fatal("default costs")
	}
	for i := 0; i < 2; i++ {
		if !l.Admit(c, "icx_call", false).OK {
			t.Fatalf("icx_call %d refused", i)
		}
	}
	d := l.Admit(c, "icx_call", false)
	if d.OK {
		t.Fatal("third icx_call (15 tokens of 10) admitted")
	}
	if d.RetryAfter <= 400*time.Millisecond || d.RetryAfter > 500*time.Millisecond {
		t.Errorf("RetryAfter %v, want 5 tokens at 10/s", d.RetryAfter)
	}
	// Writes have their own budget: reads are exhausted, writes are not.
	for i := 0; i < 2; i++ {
		if !l.Admit(c, "icx_sendTransaction", true).OK {
			t.Fatalf("write %d refused while only reads were used", i)
		}
	}
	if l.Admit(c, "icx_sendTransaction", true).OK {
		t.Fatal("write over the write burst admitted")
	}
	clk.advance(time.Second)
	if !l.Admit(c, "icx_getLastBlock", false).OK || !l.Admit(c, "icx_sendTransaction", true).OK {
		t.Fatal("budgets did not refill")
	}
}

// A batch pays the sum of its items: one costing more than the whole bucket
// is refused (batching must not buy five times the limit), and says why.
func TestAdmitNRefusesOverBurst(t *testing.T) {
	l, _, _ := newTestLimiter(t, Config{Enabled: true, RequestsPerSecond: 10, Burst: 10})
	c := l.Identify(ip("198.51.100.1"), nil)
	if d := l.AdmitN(c, 50, false); d.OK || d.Reason != ReasonRate || !d.OverBurst() || d.Cost != 50 || d.Burst != 10 {
		t.Fatalf("a batch bigger than the burst: %+v", d)
	}
	if !l.AdmitN(c, 10, false).OK {
		t.Fatal("a refused over-burst batch must not drain the bucket")
	}
	if d := l.AdmitN(c, 1, false); d.OK || d.Reason != ReasonRate || d.OverBurst() {
		t.Fatalf("bucket not drained by the batch: %+v", d)
	}
	// A method dearer than the whole bucket empties it but stays callable.
	l, _, _ = newTestLimiter(t, Config{Enabled: true, RequestsPerSecond: 1, Burst: 3})
	c = l.Identify(ip("198.51.100.1"), nil)
	if !l.Admit(c, "icx_call", false).OK {
		t.Fatal("icx_call (cost 5) can never pass a burst of 3")
	}
	if l.Admit(c, "icx_getLastBlock", false).OK {
		t.Fatal("icx_call did not empty the bucket")
	}
}

func TestIPv6GroupedByPrefix(t *testing.T) {
	l, _, _ := newTestLimiter(t, Config{Enabled: true, RequestsPerSecond: 1, Burst: 2})
	a := l.Identify(ip("2001:db8:1:2::1"), nil)
	b := l.Identify(ip("2001:db8:1:2:ffff::9"), nil)
	other := l.Identify(ip("2001:db8:1:3::1"), nil)
	l.Admit(a, "icx_getLastBlock", false)
	l.Admit(b, "icx_getLastBlock", false)
	if l.Admit(a, "icx_getLastBlock", false).OK {
		t.Fatal("two addresses of one /64 got separate budgets")
	}
	if !l.Admit(other, "icx_getLastBlock", false).OK {
		t.Fatal("another /64 was limited")
	}
}

func TestAllowDenyLists(t *testing.T) {
	for _, enabled := range []bool{true, false} {
		l, _, _ := newTestLimiter(t, Config{Enabled: enabled, RequestsPerSecond: 1, Burst: 1,
			Deny: []string{"192.0.2.0/24"}, Allow: []string{"192.0.2.10", "10.0.0.0/8"}})
		denied := l.Identify(ip("192.0.2.1"), nil)
		if d := l.Admit(denied, "icx_getLastBlock", false); d.OK || d.Reason != ReasonDenied || d.HTTPStatus() != 403 {
			t.Fatalf("enabled=%v: denied address: %+v", enabled, d)
		}
		// Allow carves an exception out of a denied range, and exempts from limits.
		for _, a := range []string{"192.0.2.10", "10.1.1.1"} {
			c := l.Identify(ip(a), nil)
			for i := 0; i < 20; i++ {
				if d := l.Admit(c, "icx_call", false); !d.OK {
					t.Fatalf("enabled=%v: allowed %s refused: %+v", enabled, a, d)
				}
			}
			if d := l.Admit(c, "debug_getTrace", false); d.OK || d.Reason != ReasonMethod {
				t.Fatalf("allow list must not widen the method list: %+v", d)
			}
		}
		// Limits off: anyone else passes any number of times.
		c := l.Identify(ip("198.51.100.1"), nil)
		admitted := 0
		for i := 0; i < 5; i++ {
			if l.Admit(c, "icx_getLastBlock", false).OK {
				admitted++
			}
		}
		if want := map[bool]int{true: 1, false: 5}[enabled]; admitted != want {
			t.Errorf("enabled=%v: %d admitted, want %d", enabled, admitted, want)
		}
	}
}

func keyedConfig() Config {
	return Config{
		Enabled: true, RequestsPerSecond: 1, Burst: 2,
		Tiers: map[string]Tier{
			"partner":  {RequestsPerSecond: 100, Burst: 50, WriteRequestsPerSecond: 10, WriteBurst: 10, AllowedMethods: []string{"icx_*", "debug_*"}},
			"internal": {Unlimited: true, AllowedMethods: []string{"*"}},
		},
		Keys: []APIKey{{ID: "acme", Key: "s3cret-acme", Tier: "partner"}, {ID: "ops", Key: "s3cret-ops", Tier: "internal"}},
	}
}

func TestKeyTiers(t *testing.T) {
	l, _, _ := newTestLimiter(t, keyedConfig())
	anon := l.Identify(ip("198.51.100.1"), nil)
	if d := l.Admit(anon, "debug_getTrace", false); d.OK || d.Reason != ReasonMethod {
		t.Fatalf("anonymous debug call: %+v", d)
	}
	acme := l.Identify(ip("198.51.100.1"), []byte("s3cret-acme"))
	if acme.KeyID != "acme" || acme.Tier() != "partner" {
		t.Fatalf("identified as %+v", acme)
	}
	if strings.Contains(fmt.Sprintf("%+v", acme), "s3cret") {
		t.Fatal("the key itself is in the client description")
	}
	if d := l.Admit(acme, "debug_getTrace", false); !d.OK {
		t.Fatalf("partner debug call: %+v", d)
	}
	// The key's budget (50) is shared by every address using it and is
	// separate from the anonymous per-IP budget (2).
	n := 0
	for i := 0; i < 60; i++ {
		c := l.Identify(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), []byte("s3cret-acme"))
		if l.Admit(c, "icx_getLastBlock", false).OK {
			n++
		}
	}
	if n != 50-10 { // debug_getTrace took 10
		t.Errorf("key admitted %d from 60 addresses, want 40", n)
	}
	if !l.Admit(anon, "icx_getLastBlock", false).OK {
		t.Error("anonymous client on the same IP was charged for the key")
	}
	ops := l.Identify(ip("198.51.100.1"), []byte("s3cret-ops"))
	for i := 0; i < 1000; i++ {
		if !l.Admit(ops, "admin_anything", false).OK {
			t.Fatal("unlimited tier refused")
		}
	}
	bad := l.Identify(ip("198.51.100.1"), []byte("guess"))
	if d := l.Admit(bad, "icx_getLastBlock", false); d.OK || d.Reason != ReasonKey || d.HTTPStatus() != 401 {
		t.Fatalf("unknown key: %+v", d)
	}
	if rejections(l, ReasonKey, unknownKeyTier) != 1 || rejections(l, ReasonMethod, AnonymousTier) != 1 {
		t.Error("rejection metrics by reason and tier")
	}
	if rejections(l, ReasonRate, "partner") != 20 {
		t.Errorf("partner rate rejections = %v", rejections(l, ReasonRate, "partner"))
	}
}

func TestKeysIgnoredWhenNoneConfigured(t *testing.T) {
	l, _, _ := newTestLimiter(t, Config{Enabled: true})
	c := l.Identify(ip("198.51.100.1"), []byte("whatever"))
	if !l.Admit(c, "icx_getLastBlock", false).OK || c.Tier() != AnonymousTier {
		t.Fatalf("%+v", c)
	}
}

func TestZeroClientIsAnonymous(t *testing.T) {
	l, _, _ := newTestLimiter(t, Config{Enabled: true})
	if !l.Admit(Client{}, "icx_getLastBlock", false).OK || l.Admit(Client{}, "debug_getTrace", false).OK {
		t.Fatal("zero Client")
	}
	if !l.MethodAllowed(Client{}, "icx_call") {
		t.Fatal("MethodAllowed on zero Client")
	}
}

// A flood of distinct addresses cannot grow the limiter past MaxClients.
func TestManyDistinctIPsStayBounded(t *testing.T) {
	const maxClients = 10_000
	l, _, reg := newTestLimiter(t, Config{Enabled: true, MaxClients: maxClients})
	n := 1_000_000
	if testing.Short() {
		n = 200_000
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		a := netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		if !l.Admit(l.Identify(a, nil), "icx_getLastBlock", false).OK {
			t.Fatalf("fresh address %v refused", a)
		}
		if i%100_000 == 0 && l.TrackedClients() > maxClients {
			t.Fatalf("%d tracked after %d addresses", l.TrackedClients(), i)
		}
	}
	if got := l.TrackedClients(); got > maxClients || got < maxClients*9/10 {
		t.Fatalf("%d clients tracked, bound %d", got, maxClients)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d addresses seen, %d tracked, heap grew %d bytes (%d per tracked client)", n, l.TrackedClients(), grown, grown/int64(l.TrackedClients()))
	if grown > maxClients*1024 {
		t.Errorf("heap grew %d bytes for %d tracked clients", grown, maxClients)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "icon_edge_ratelimit_tracked_clients" {
			if v := mf.GetMetric()[0].GetGauge().GetValue(); int(v) != l.TrackedClients() {
				t.Errorf("gauge %v, tracked %d", v, l.TrackedClients())
			}
			return
		}
	}
	t.Error("tracked clients gauge not registered")
}

func TestConcurrentAdmit(t *testing.T) {
	l, _, _ := newTestLimiter(t, Config{Enabled: true, RequestsPerSecond: 1, Burst: 100, MaxClients: 64})
	l.now = time.Now
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := map[netip.Addr]int{}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 4)})
				if l.Admit(l.Identify(a, nil), "icx_getLastBlock", i%10 == 0).OK {
					mu.Lock()
					admitted[a]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for a, n := range admitted {
		// 100 reads and 10 writes of burst, plus what refills meanwhile.
		if n > 100+10+20 {
			t.Errorf("%v admitted %d of 800", a, n)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := []struct {
		cfg   Config
		field string
	}{
		{Config{TrustedProxies: []string{"173.245.48.0/33"}}, `trusted_proxies[0] must be a CIDR like 10.0.0.0/8 or an IP, got "173.245.48.0/33"`},
		{Config{Allow: []string{"10.0.0.0/8", "nope"}}, "allow[1] must be a CIDR"},
		{Config{Deny: []string{"x"}}, "deny[0] must be a CIDR"},
		{Config{RequestsPerSecond: -3}, "requests_per_second must be > 0, got -3"},
		{Config{Burst: -1}, "burst must be >= 1, got -1"},
		{Config{WriteRequestsPerSecond: -2}, "write_requests_per_second must be > 0, got -2"},
		{Config{MethodCost: map[string]int{"icx_call": 0}}, "method_cost.icx_call must be >= 1, got 0"},
		{Config{MethodCost: map[string]int{"icx_cal": 3}}, "method_cost.icx_cal names no method"},
		{Config{AllowedMethods: []string{"icx_*_x"}}, "allowed_methods[0] must be a method name"},
		{Config{MaxClients: 3}, "max_clients must be >= 16, got 3"},
		{Config{IPv6PrefixLen: 129}, "ipv6_prefix_len must be between 1 and 128, got 129"},
		{Config{Tiers: map[string]Tier{"p": {Burst: 5, WriteRequestsPerSecond: 1, WriteBurst: 1}}}, "tiers.p.requests_per_second must be > 0, got 0"},
		{Config{Tiers: map[string]Tier{"anonymous": {Unlimited: true}}}, "tiers.anonymous is a reserved tier name"},
		{Config{Keys: []APIKey{{ID: "a", Key: "k", Tier: "missing"}}}, `keys[0].tier "missing" is not in tiers`},
		{Config{Tiers: map[string]Tier{"p": {Unlimited: true}}, Keys: []APIKey{{ID: "a", Key: "k", Tier: "p"}, {ID: "a", Key: "k2", Tier: "p"}}}, `keys[1].id "a" is already used by keys[0]`},
		{Config{Tiers: map[string]Tier{"p": {Unlimited: true}}, Keys: []APIKey{{ID: "a", Key: "k", Tier: "p"}, {ID: "b", Key: "k", Tier: "p"}}}, "keys[1].key is the same secret as keys[0]"},
		{Config{Tiers: map[string]Tier{"p": {Unlimited: true}}, Keys: []APIKey{{ID: "a", Tier: "p"}}}, "keys[0].key is empty"},
		{Config{ProxyHeaders: []string{""}}, "proxy_headers[0] is empty"},
	}
	for _, tc := range cases {
		_, err := New(tc.cfg, nil)
		if err == nil {
			t.Errorf("%+v accepted", tc.cfg)
			continue
		}
		if !strings.Contains(err.Error(), tc.field) || strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("error %q is not the one message %q", err, tc.field)
		}
		if strings.Contains(err.Error(), "k2") {
			t.Errorf("error %q reveals a key", err)
		}
	}
	// Secrets never appear in errors.
	_, err := New(Config{Tiers: map[string]Tier{"p": {Unlimited: true}}, Keys: []APIKey{{ID: "a", Key: "topsecret", Tier: "p"}, {ID: "b", Key: "topsecret", Tier: "p"}}}, nil)
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("duplicate key error: %v", err)
	}
}

// A configuration file starts from DefaultConfig, which must be valid as it
// stands; Validate sees a zero written in the file instead of a default.
func TestDefaultConfigValidAndZeroRefused(t *testing.T) {
	d := DefaultConfig()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	d.RequestsPerSecond = 0
	if err := d.Validate(); err == nil || err.Error() != "requests_per_second must be > 0, got 0" {
		t.Fatalf("zero rate: %v", err)
	}
}

// A limiter rebuilt on reload keeps counting into the same series, and the
// tracked-clients gauge follows the newest limiter.
func TestNewWithMetricsContinuesSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	old, err := New(Config{Enabled: true, RequestsPerSecond: 1, Burst: 1}, reg)
	if err != nil {
		t.Fatal(err)
	}
	c := old.Identify(ip("198.51.100.1"), nil)
	old.Admit(c, "icx_getLastBlock", false)
	if d := old.Admit(c, "icx_getLastBlock", false); d.OK {
		t.Fatal("second call within a burst of 1 admitted")
	}
	next, err := NewWithMetrics(Config{Enabled: true, RequestsPerSecond: 1, Burst: 1}, old.m)
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	c = next.Identify(ip("198.51.100.2"), nil)
	next.Admit(c, "icx_getLastBlock", false)
	next.Admit(c, "icx_getLastBlock", false)
	if got := rejections(next, ReasonRate, AnonymousTier); got != 2 {
		t.Errorf("rejections after reload = %v, want 2 (1 before, 1 after)", got)
	}
	if got := promtest.Value(t, reg, "icon_edge_ratelimit_tracked_clients", nil); got != 1 {
		t.Errorf("tracked gauge = %v, want the new limiter's 1", got)
	}
	next.Close()
	if got := promtest.Value(t, reg, "icon_edge_ratelimit_tracked_clients", nil); got != 0 {
		t.Errorf("tracked gauge after Close = %v", got)
	}
}

func TestDefaultsAreValid(t *testing.T) {
	l, err := New(Config{}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if l.APIKeyHeader() != "X-API-Key" || l.KeysEnabled() {
		t.Fatal("defaults")
	}
}

func TestCloudflareRangesAsTrustedProxies(t *testing.T) {
	l, _, _ := newTestLimiter(t, Config{TrustedProxies: CloudflareIPRanges})
	hdr := func(n string) []byte {
		if n == "CF-Connecting-IP" {
			return []byte("198.51.100.77")
		}
		return nil
	}
	for _, peer := range []string{"104.16.1.1", "172.67.1.1", "2606:4700::6810:1"} {
		if got := l.ClientIP(ip(peer), hdr); got != ip("198.51.100.77") {
			t.Errorf("Cloudflare peer %s: client %v", peer, got)
		}
	}
	if got := l.ClientIP(ip("8.8.8.8"), hdr); got != ip("8.8.8.8") {
		t.Errorf("non-Cloudflare peer believed: %v", got)
	}
}
