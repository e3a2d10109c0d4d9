package cloudflare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/load_balancers"
	"github.com/cloudflare/cloudflare-go/v6/option"
)

// Options configure the API client.
type Options struct {
	Token   string // CLOUDFLARE_API_TOKEN
	BaseURL string // CLOUDFLARE_BASE_URL; empty: Cloudflare's production API

	HTTPClient *http.Client  // default: 30 s per request
	Logger     *slog.Logger  // retries are logged at warn; default: discard
	Attempts   int           // tries per API call, for 429, 5xx and transport errors; default 5
	Backoff    time.Duration // first wait between tries, doubling; default 1 s
	MaxBackoff time.Duration // cap of one wait without Retry-After; default 30 s
	// MaxRetryAfter is the longest Retry-After the client waits out; a longer
	// one (Cloudflare locks a token out for minutes past its budget) fails at
	// once with the time to wait. Default 60 s.
	MaxRetryAfter time.Duration
}

// OptionsFromEnv reads CLOUDFLARE_API_TOKEN and CLOUDFLARE_BASE_URL.
func OptionsFromEnv(getenv func(string) string) Options {
	return Options{Token: getenv("CLOUDFLARE_API_TOKEN"), BaseURL: getenv("CLOUDFLARE_BASE_URL")}
}

// Client talks to Cloudflare's load balancing API through cloudflare-go.
type Client struct {
	lb   *load_balancers.LoadBalancerService
	opts Options
	log  *slog.Logger
	// sleep waits between tries; tests replace it to count the waits.
	sleep func(ctx context.Context, d time.Duration) error
}

// NewClient checks the options and builds a client. The SDK's own retries
// are off: this client retries with its own bounded policy so that every
// failure ends in one clear error.
func NewClient(o Options) (*Client, error) {
	if strings.TrimSpace(o.Token) == "" {
		return nil, errors.New("CLOUDFLARE_API_TOKEN is not set: create an API token with Load Balancing: Monitors and Pools: Edit (account) and Load Balancers: Edit (zone)")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 60 * time.Second
	}
	ro := []option.RequestOption{
		option.WithEnvironmentProduction(), option.WithAPIToken(o.Token),
		option.WithHTTPClient(o.HTTPClient), option.WithMaxRetries(0),
	}
	if o.BaseURL != "" {
		if !strings.HasPrefix(o.BaseURL, "http://") && !strings.HasPrefix(o.BaseURL, "https://") {
			return nil, fmt.Errorf("CLOUDFLARE_BASE_URL must be an http(s) URL, got %q", o.BaseURL)
		}
		ro = append(ro, option.WithBaseURL(o.BaseURL))
	}
	return &Client{lb: load_balancers.NewLoadBalancerService(ro...), opts: o, log: o.Logger, sleep: sleepCtx}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// APIError is a failed API call after the client gave up.
type APIError struct {
	Op         string        // what was being done, e.g. "create pool icon_edge_x_eu"
	Status     int           // HTTP status; 0 for a transport error
	Codes      []int64       // Cloudflare error codes
	Messages   []string      // Cloudflare error messages
	RetryAfter time.Duration // from a 429's Retry-After
	Attempts   int
	Err        error // the transport error, when there was no answer
}

func (e *APIError) Error() string {
	detail := strings.Join(e.Messages, "; ")
	if len(e.Codes) > 0 {
		codes := make([]string, len(e.Codes))
		for i, c := range e.Codes {
			codes[i] = strconv.FormatInt(c, 10)
		}
		detail = fmt.Sprintf("%s (code %s)", detail, strings.Join(codes, ", "))
	}
	tries := ""
	if e.Attempts > 1 {
		tries = fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	switch {
	case e.Status == 0:
		return fmt.Sprintf("%s: cannot reach the Cloudflare API%s: %v", e.Op, tries, e.Err)
	case e.AuthFailed():
		return fmt.Sprintf("%s: Cloudflare rejected the API token (HTTP %d): %s; check CLOUDFLARE_API_TOKEN and that it may edit load balancers, pools and monitors of this account and zone", e.Op, e.Status, detail)
	case e.Status == http.StatusTooManyRequests:
		wait := ""
		if e.RetryAfter > 0 {
			wait = fmt.Sprintf("; Cloudflare asks to wait %s (Retry-After) before the next call", e.RetryAfter)
		}
		return fmt.Sprintf("%s: rate limited by Cloudflare (HTTP 429)%s%s; the API allows about 1200 calls per 5 minutes per token", e.Op, tries, wait)
	case e.Status >= 500:
		return fmt.Sprintf("%s: Cloudflare API error (HTTP %d)%s: %s; Cloudflare may be having trouble, try again later", e.Op, e.Status, tries, detail)
	default:
		return fmt.Sprintf("%s: Cloudflare refused (HTTP %d): %s", e.Op, e.Status, detail)
	}
}

func (e *APIError) Unwrap() error { return e.Err }

// AuthFailed reports a missing, malformed, invalid or insufficient token.
func (e *APIError) AuthFailed() bool {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return true
	}
	for _, c := range e.Codes {
		switch c {
		case 6003, 6111, 9106, 9109, 10000:
			return true
		}
	}
	return false
}

// NotFound reports a 404: the object is gone.
func (e *APIError) NotFound() bool { return e.Status == http.StatusNotFound }

func retryable(e *APIError) bool {
	return e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// toAPIError turns an SDK or transport error into an APIError.
func toAPIError(op string, err error) *APIError {
	var sdk *load_balancers.Error
	if errors.As(err, &sdk) {
		e := &APIError{Op: op, Status: sdk.StatusCode}
		for _, d := range sdk.Errors {
			e.Codes = append(e.Codes, d.Code)
			e.Messages = append(e.Messages, d.Message)
		}
		if len(e.Messages) == 0 {
			e.Messages = []string{http.StatusText(sdk.StatusCode)}
		}
		if sdk.Response != nil {
			e.RetryAfter = parseRetryAfter(sdk.Response.Header.Get("Retry-After"))
		}
		return e
	}
	return &APIError{Op: op, Err: err}
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// call runs one API call with the retry policy: 429, 5xx and transport
// errors are tried again (Retry-After when given, else doubling backoff with
// jitter), at most Attempts times.
func (c *Client) call(ctx context.Context, op string, fn func(context.Context) error) error {
	backoff := c.opts.Backoff
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, ctx.Err())
		}
		e := toAPIError(op, err)
		e.Attempts = attempt
		if !retryable(e) || attempt >= c.opts.Attempts {
			return e
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if e.Status == http.StatusTooManyRequests && e.RetryAfter > 0 {
			if e.RetryAfter > c.opts.MaxRetryAfter {
				return e // waiting out a lockout is the operator's call
			}
			wait = e.RetryAfter
		}
		backoff = min(2*backoff, c.opts.MaxBackoff)
		c.log.Warn("Cloudflare API call failed; retrying", "op", op, "status", e.Status, "attempt", attempt, "wait", wait, "err", e.Messages)
		if err := c.sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
}

// resultInfo is Cloudflare's pagination block.
type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

const perPage = 50

// listAll fetches every page of a list. cloudflare-go treats these lists as
// one page, but the API may answer with result_info saying there are more:
// follow it, so an account with many pools never hides one of ours.
func listAll[T any](ctx context.Context, c *Client, op string, list func(ctx context.Context, opts ...option.RequestOption) ([]T, string, error)) ([]T, error) {
	var all []T
	for page := 1; page <= 1000; page++ {
		var items []T
		var raw string
		err := c.call(ctx, op, func(ctx context.Context) error {
			var err error
			items, raw, err = list(ctx, option.WithQuery("page", strconv.Itoa(page)), option.WithQuery("per_page", strconv.Itoa(perPage)))
			return err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		var env struct {
			ResultInfo *resultInfo `json:"result_info"`
		}
		_ = json.Unmarshal([]byte(raw), &env)
		ri := env.ResultInfo
		if ri == nil || len(items) == 0 {
			return all, nil
		}
		if ri.TotalPages > 0 {
			if page >= ri.TotalPages {
				return all, nil
			}
		} else if ri.TotalCount == 0 || len(all) >= ri.TotalCount {
			return all, nil
		}
	}
	return nil, fmt.Errorf("%s: more than 1000 pages", op)
}
