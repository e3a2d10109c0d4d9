// Package confkey names configuration errors by the YAML key the operator
// wrote (ratelimit.trusted_proxies[2], not Config.TrustedProxies[2]), so every
// invalid value is reported once, in the file's own words.
//
// A package validates its section with keys relative to it; whoever embeds the
// section in a larger file puts the errors under the section's key with In.
package confkey

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one invalid value: Key is its YAML path, Problem says what is
// wrong and what would be right ("must be > 0, got -3").
type Error struct {
	Key     string
	Problem string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return e.Problem
	}
	return e.Key + " " + e.Problem
}

// New reports the value at key.
func New(key, format string, args ...any) *Error {
	return &Error{Key: key, Problem: fmt.Sprintf(format, args...)}
}

// Index is the key of a list item: Index("trusted_proxies", 2) is
// "trusted_proxies[2]".
func Index(key string, i int) string { return fmt.Sprintf("%s[%d]", key, i) }

// Join is key + "." + sub, where either may be empty.
func Join(key, sub string) string {
	switch {
	case key == "":
		return sub
	case sub == "":
		return key
	case strings.HasPrefix(sub, "["):
		return key + sub
	}
	return key + "." + sub
}

// In puts err's keys under section: an *Error's key becomes section.key and
// every error of an errors.Join is handled on its own. Other errors (not
// about one key) are prefixed with "section: ". nil stays nil.
func In(section string, err error) error {
	if err == nil {
		return nil
	}
	if many, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range many.Unwrap() {
			out = append(out, In(section, e))
		}
		return errors.Join(out...)
	}
	if ke, ok := err.(*Error); ok {
		return &Error{Key: Join(section, ke.Key), Problem: ke.Problem}
	}
	return fmt.Errorf("%s: %w", section, err)
}

// List returns the separate errors of a Join (or err itself), so a caller
// can count or print them one per line.
func List(err error) []error {
	if err == nil {
		return nil
	}
	if many, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range many.Unwrap() {
			out = append(out, List(e)...)
		}
		return out
	}
	return []error{err}
}
