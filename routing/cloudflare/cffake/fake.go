// Package cffake is a local stand-in for the part of Cloudflare's API v4
// that icon-edge uses: load balancer monitors, pools (with their health)
// and zone load balancers. It speaks the real wire protocol — paths, the
// {"success","errors","messages","result","result_info"} envelope, Bearer
// tokens, page/per_page pagination, 429 with Retry-After — and refuses what
// Cloudflare refuses (missing required fields, bad pool names, references to
// pools or monitors that do not exist, deleting objects still in use), so a
// client that passes against it has been checked, not just echoed.
package cffake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a fake account.
type Options struct {
	Token     string // the one API token accepted
	AccountID string // 32 hex digits
	ZoneID    string // 32 hex digits
	ZoneName  string // load balancer names must be in this zone; default example.org
	// MaxPerPage caps per_page on list calls (0: no cap), to make a client
	// follow result_info across pages.
	MaxPerPage int
}

// Request is one request the fake answered.
type Request struct {
	Method, Path string
	Status       int
}

// Server is the fake API. Its zero value is not usable: call New.
type Server struct {
	opts Options

	mu       sync.Mutex
	monitors *store[monitor]
	pools    *store[pool]
	lbs      *store[loadBalancer]
	health   map[string]bool // pool id -> healthy, when set by SetPoolHealth
	fail     []failure
	log      []Request
	writes   int

	srv *http.Server
	ln  net.Listener
}

type failure struct {
	status     int
	retryAfter string
}

// Defaults for the ids, used by `iconsim cloudflare-fake` and the demo.
const (
	DefaultToken     = "fake-cloudflare-token"
	DefaultAccountID = "0000000000000000000000000000acc1"
	DefaultZoneID    = "00000000000000000000000000000201"
	DefaultZoneName  = "example.org"
)

// New returns a fake account with no objects.
func New(o Options) *Server {
	if o.Token == "" {
		o.Token = DefaultToken
	}
	if o.AccountID == "" {
		o.AccountID = DefaultAccountID
	}
	if o.ZoneID == "" {
		o.ZoneID = DefaultZoneID
	}
	if o.ZoneName == "" {
		o.ZoneName = DefaultZoneName
	}
	return &Server{
		opts: o, monitors: newStore[monitor](), pools: newStore[pool](), lbs: newStore[loadBalancer](),
		health: map[string]bool{},
	}
}

// Start serves on addr (e.g. 127.0.0.1:0) until Close.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// URL is the API base URL to give a client (CLOUDFLARE_BASE_URL).
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() + "/client/v4" }

// Close stops the listener.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// FailNext makes the next n requests fail with status (429 or 5xx),
// carrying Retry-After when retryAfter is not empty.
func (s *Server) FailNext(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fail = append(s.fail, failure{status, retryAfter})
	}
}

// Writes counts the POST, PUT, PATCH and DELETE requests that passed
// authentication, accepted or not.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Requests returns every request answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// SetPoolHealth fixes what the health endpoint reports for the pool named
// name; without it a pool is healthy while it and one origin are enabled.
func (s *Server) SetPoolHealth(name string, healthy bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pools.all() {
		if p.Name == name {
			s.health[p.ID] = healthy
			return true
		}
	}
	return false
}

// Snapshot is every object, as the API would return it.
type Snapshot struct {
	Monitors      []json.RawMessage
	Pools         []json.RawMessage
	LoadBalancers []json.RawMessage
}

// Objects returns every object as JSON, in creation order.
func (s *Server) Objects() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out Snapshot
	for _, m := range s.monitors.all() {
		out.Monitors = append(out.Monitors, mustJSON(m))
	}
	for _, p := range s.pools.all() {
		out.Pools = append(out.Pools, mustJSON(p))
	}
	for _, l := range s.lbs.all() {
		out.LoadBalancers = append(out.LoadBalancers, mustJSON(l))
	}
	return out
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the fake's own types are marshalled
	}
	return b
}

// apiError is one entry of the envelope's errors.
type apiError struct {
	Code       int        `json:"code"`
	Message    string     `json:"message"`
	ErrorChain []apiError `json:"error_chain,omitempty"`
}

type envelope struct {
	Success    bool        `json:"success"`
	Errors     []apiError  `json:"errors"`
	Messages   []apiError  `json:"messages"`
	Result     any         `json:"result"`
	ResultInfo *resultInfo `json:"result_info,omitempty"`
}

type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

// reply is what a handler answers.
type reply struct {
	status int
	result any
	info   *resultInfo
	errs   []apiError
}

func ok(result any) reply { return reply{status: http.StatusOK, result: result} }

func fail(status, code int, format string, args ...any) reply {
	return reply{status: status, errs: []apiError{{Code: code, Message: fmt.Sprintf(format, args...)}}}
}

// invalid is Cloudflare's answer to a request body it will not take.
func invalid(format string, args ...any) reply {
	return fail(http.StatusBadRequest, 1002, format, args...)
}

func notFound(kind string) reply { return fail(http.StatusNotFound, 1003, "%s not found", kind) }

func (s *Server) write(w http.ResponseWriter, r *http.Request, rep reply, extra http.Header) {
	env := envelope{Success: rep.status < 300, Errors: rep.errs, Messages: []apiError{}, Result: rep.result, ResultInfo: rep.info}
	if env.Errors == nil {
		env.Errors = []apiError{}
	}
	for k, v := range extra {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_ = json.NewEncoder(w).Encode(env)
	s.log = append(s.log, Request{Method: r.Method, Path: r.URL.Path, Status: rep.status})
}

// ServeHTTP answers one API call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path, found := strings.CutPrefix(r.URL.Path, "/client/v4/")
	if !found {
		s.write(w, r, fail(http.StatusNotFound, 7003, "Could not route to %s, perhaps your object identifier is invalid?", r.URL.Path), nil)
		return
	}
	auth := r.Header.Get("Authorization")
	token, bearer := strings.CutPrefix(auth, "Bearer ")
	if !bearer || token == "" {
		rep := fail(http.StatusBadRequest, 6003, "Invalid request headers")
		rep.errs[0].ErrorChain = []apiError{{Code: 6111, Message: "Invalid format for Authorization header"}}
		s.write(w, r, rep, nil)
		return
	}
	if token != s.opts.Token {
		s.write(w, r, fail(http.StatusForbidden, 10000, "Authentication error"), nil)
		return
	}
	if len(s.fail) > 0 {
		f := s.fail[0]
		s.fail = s.fail[1:]
		h := http.Header{}
		if f.retryAfter != "" {
			h.Set("Retry-After", f.retryAfter)
		}
		if f.status == http.StatusTooManyRequests {
			s.write(w, r, fail(f.status, 971, "Please wait and consider throttling your request speed"), h)
		} else {
			s.write(w, r, fail(f.status, 10001, "Internal server error"), h)
		}
		return
	}
	if r.Method != http.MethodGet {
		s.writes++
	}
	s.write(w, r, s.route(r, strings.Split(strings.TrimSuffix(path, "/"), "/")), nil)
}

func (s *Server) route(r *http.Request, parts []string) reply {
	switch {
	case len(parts) >= 4 && parts[0] == "accounts" && parts[2] == "load_balancers":
		if parts[1] != s.opts.AccountID {
			return fail(http.StatusForbidden, 10000, "Authentication error")
		}
		rest := parts[3:]
		switch rest[0] {
		case "monitors":
			return s.monitorsAPI(r, rest[1:])
		case "pools":
			return s.poolsAPI(r, rest[1:])
		}
	case len(parts) >= 3 && parts[0] == "zones" && parts[2] == "load_balancers":
		if parts[1] != s.opts.ZoneID {
			return fail(http.StatusForbidden, 10000, "Authentication error")
		}
		return s.lbAPI(r, parts[3:])
	}
	return fail(http.StatusNotFound, 7003, "Could not route to /%s, perhaps your object identifier is invalid?", strings.Join(parts, "/"))
}

func methodNotAllowed() reply {
	return fail(http.StatusMethodNotAllowed, 10405, "Method not allowed for this endpoint")
}

// page applies page/per_page to a list.
func page[T any](r *http.Request, items []T, maxPer int) reply {
	pg, _ := strconv.Atoi(r.URL.Query().Get("page"))
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if pg < 1 {
		pg = 1
	}
	if per < 1 {
		per = max(len(items), 1)
	}
	if maxPer > 0 && per > maxPer {
		per = maxPer
	}
	from := min((pg-1)*per, len(items))
	to := min(from+per, len(items))
	out := append([]T{}, items[from:to]...)
	pages := (len(items) + per - 1) / per
	return reply{status: http.StatusOK, result: out, info: &resultInfo{
		Page: pg, PerPage: per, Count: len(out), TotalCount: len(items), TotalPages: pages,
	}}
}

// decode reads a JSON object body; unknown fields are ignored, as the API does.
func decode(r *http.Request, into any) *reply {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		rep := invalid("Content-Type must be application/json, got %q", ct)
		return &rep
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(into); err != nil {
		rep := fail(http.StatusBadRequest, 1001, "Malformed JSON in request body: %v", err)
		return &rep
	}
	return nil
}

// store keeps objects in creation order.
type store[T any] struct {
	order []string
	byID  map[string]*T
}

func newStore[T any]() *store[T] { return &store[T]{byID: map[string]*T{}} }

func (s *store[T]) add(id string, v *T) {
	s.order = append(s.order, id)
	s.byID[id] = v
}

func (s *store[T]) get(id string) *T { return s.byID[id] }

func (s *store[T]) remove(id string) {
	delete(s.byID, id)
	for i, o := range s.order {
		if o == id {
			s.order = append(s.order[:i], s.order[i+1:]...)
			return
		}
	}
}

func (s *store[T]) all() []*T {
	out := make([]*T, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.byID[id])
	}
	return out
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }
