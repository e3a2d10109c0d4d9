package confkey

import (
	"errors"
	"testing"
)

func TestInPrefixesEveryKeyOnce(t *testing.T) {
	err := errors.Join(New("burst", "must be >= 1, got %d", -5), New(Index("trusted_proxies", 2), "%q is not a CIDR", "x"),
		errors.New("something without a key"))
	got := In("ratelimit", err)
	want := []string{
		"ratelimit.burst must be >= 1, got -5",
		`ratelimit.trusted_proxies[2] "x" is not a CIDR`,
		"ratelimit: something without a key",
	}
	list := List(got)
	if len(list) != len(want) {
		t.Fatalf("%d errors, want %d: %v", len(list), len(want), got)
	}
	for i, e := range list {
		if e.Error() != want[i] {
			t.Errorf("error %d = %q, want %q", i, e, want[i])
		}
	}
	if In("x", nil) != nil {
		t.Error("In(nil) is not nil")
	}
	if got := In("access_log", In("elasticsearch", New("index", "is empty"))).Error(); got != "access_log.elasticsearch.index is empty" {
		t.Errorf("nested: %q", got)
	}
	if got := Join("keys", "[1]"); got != "keys[1]" {
		t.Errorf("Join = %q", got)
	}
}
