package logfmt

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type lazyDuration time.Duration

func (d lazyDuration) LogValue() slog.Value { return slog.DurationValue(time.Duration(d)) }

func TestJSONDurationsAreStrings(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: Durations}))
	log.With("backoff", 30*time.Second).WithGroup("probe").Info("node ejected",
		"retry_in", time.Second, "took", 1500*time.Microsecond, "lazy", lazyDuration(2*time.Minute), "count", 3)
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	probe, _ := got["probe"].(map[string]any)
	for _, c := range []struct {
		v    any
		want any
	}{
		{got["backoff"], "30s"},
		{probe["retry_in"], "1s"},
		{probe["took"], "1.5ms"},
		{probe["lazy"], "2m0s"},
		{probe["count"], float64(3)}, // other kinds untouched
	} {
		if c.v != c.want {
			t.Errorf("got %#v, want %#v in %s", c.v, c.want, buf.Bytes())
		}
	}
	if !strings.Contains(buf.String(), `"retry_in":"1s"`) {
		t.Errorf("line %s", buf.Bytes())
	}
}
