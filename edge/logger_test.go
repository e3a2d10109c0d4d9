package edge

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestNewLoggerWritesDurationsAsStrings(t *testing.T) {
	for _, c := range []struct{ format, want string }{
		{"json", `"retry_in":"1s"`},
		{"text", `retry_in=1s`},
		{"auto", `"retry_in":"1s"`}, // a buffer is not a terminal: JSON
	} {
		var buf bytes.Buffer
		NewLogger(c.format, "info", &buf).Warn("upstream node ejected", "retry_in", time.Second)
		if !strings.Contains(buf.String(), c.want) {
			t.Errorf("%s: %s lacks %s", c.format, buf.String(), c.want)
		}
	}
}
