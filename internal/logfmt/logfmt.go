// Package logfmt holds the slog settings every icon-edge binary shares.
package logfmt

import "log/slog"

// Durations is a slog ReplaceAttr that writes time.Duration values as Go
// duration strings ("1.5s") instead of integer nanoseconds, which is what
// slog's JSON handler does by default and what no operator reads at a glance.
// The text handler already prints durations this way; with this both agree.
func Durations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
