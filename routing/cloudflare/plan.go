package cloudflare

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Change is one write a plan would make.
type Change struct {
	Action string // "create", "update" or "delete"
	Kind   string // "monitor", "pool" or "load balancer"
	Name   string // pool and load balancer name; the monitor's description
	ID     string // Cloudflare's id, for update and delete
	Diffs  []Diff // for update: what differs, in field order
	About  string // for create and delete: a short description

	run func(ctx context.Context, c *Client, ids *idMap) error
}

// Diff is one field an update changes.
type Diff struct{ Field, From, To string }

func (ch Change) String() string {
	s := fmt.Sprintf("%s %s %s", ch.Action, ch.Kind, ch.Name)
	if ch.ID != "" {
		s += " (" + ch.ID + ")"
	}
	if ch.About != "" {
		s += ": " + ch.About
	}
	for _, d := range ch.Diffs {
		s += fmt.Sprintf("\n    %s: %s -> %s", d.Field, d.From, d.To)
	}
	return s
}

// Plan is what Apply would do, in the order it does it: monitor, pools,
// load balancer, then deletions (Cloudflare refuses to delete a pool a load
// balancer still uses, or a monitor a pool still uses).
type Plan struct {
	Changes []Change
	Notes   []string // things apply leaves alone on purpose, e.g. a drained origin

	ids *idMap
}

// Empty reports a plan without writes.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

func (p *Plan) String() string {
	var b strings.Builder
	for _, n := range p.Notes {
		b.WriteString("note: " + n + "\n")
	}
	if p.Empty() {
		b.WriteString("no changes: Cloudflare matches the configuration\n")
		return b.String()
	}
	for _, ch := range p.Changes {
		b.WriteString(ch.String() + "\n")
	}
	creates, updates, deletes := 0, 0, 0
	for _, ch := range p.Changes {
		switch ch.Action {
		case "create":
			creates++
		case "update":
			updates++
		case "delete":
			deletes++
		}
	}
	fmt.Fprintf(&b, "%d to create, %d to update, %d to delete\n", creates, updates, deletes)
	return b.String()
}

// field is one compared setting, rendered as text so a plan can print it.
type field struct{ name, value string }

func diff(have, want []field) []Diff {
	var out []Diff
	for i := range want {
		if have[i].value != want[i].value {
			out = append(out, Diff{Field: want[i].name, From: have[i].value, To: want[i].value})
		}
	}
	return out
}

func num(v int64) string     { return strconv.FormatInt(v, 10) }
func flt(v float64) string   { return strconv.FormatFloat(v, 'g', -1, 64) }
func boolean(v bool) string  { return strconv.FormatBool(v) }
func quote(v string) string  { return strconv.Quote(v) }
func list(v []string) string { return "[" + strings.Join(v, ", ") + "]" }

func header(h map[string][]string) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strings.Join(h[k], ",")
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func monitorFields(m Monitor) []field {
	return []field{
		{"description", quote(m.Description)}, {"type", m.Type}, {"method", m.Method}, {"path", quote(m.Path)},
		{"expected_codes", quote(m.ExpectedCodes)}, {"interval", num(m.Interval)}, {"timeout", num(m.Timeout)},
		{"retries", num(m.Retries)}, {"consecutive_up", num(m.ConsecutiveUp)},
		{"consecutive_down", num(m.ConsecutiveDown)}, {"header", header(m.Header)}, {"port", num(m.Port)},
		{"allow_insecure", boolean(m.AllowInsecure)}, {"follow_redirects", boolean(m.FollowRedirects)},
	}
}

func origins(os []Origin) string {
	parts := make([]string, len(os))
	for i, o := range os {
		parts[i] = fmt.Sprintf("{name=%s address=%s enabled=%t weight=%s host=%s}",
			o.Name, o.Address, o.Enabled, flt(o.Weight), strings.Join(o.Host, ","))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func poolFields(p Pool) []field {
	return []field{
		{"description", quote(p.Description)}, {"enabled", boolean(p.Enabled)},
		{"minimum_origins", num(p.MinimumOrigins)}, {"monitor", p.Monitor},
		{"latitude", flt(p.Latitude)}, {"longitude", flt(p.Longitude)}, {"origins", origins(p.Origins)},
	}
}

func regionPools(rp map[string][]string) string {
	codes := make([]string, 0, len(rp))
	for c := range rp {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = c + "=" + list(rp[c])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func lbFields(lb LoadBalancer) []field {
	return []field{
		{"description", quote(lb.Description)}, {"proxied", boolean(lb.Proxied)},
		{"steering_policy", lb.SteeringPolicy}, {"session_affinity", lb.SessionAffinity},
		{"default_pools", list(lb.DefaultPools)}, {"fallback_pool", lb.FallbackPool},
		{"region_pools", regionPools(lb.RegionPools)},
	}
}

// idMap resolves names to ids while a plan runs: objects created earlier in
// the run are known only then.
type idMap struct {
	monitor string
	pools   map[string]string // name -> id
}
