package wsbridge

import (
	"encoding/json"
	"github.com/icon-edge/icon-edge/internal/rawjson"
	"regexp"
	"slices"
	"strings"

	"github.com/valyala/fastjson"
)

// selector is an event subscription the bridge can serve from a shared
// upstream session: the node is asked for the union of many clients' filters
// (with logs), and each client's own notifications are cut from it here, by
// the same rules goloop applies (EventFilter.MatchLog).
type selector struct {
	filters []evFilter
	keys    []string // each filter's canonical JSON, the unit of the shared request
	logs    bool     // the client asked for logs ("logs":"0x1")
}

// evFilter is one filter with every argument in the form a node prints event
// logs in, so that matching is a string comparison.
type evFilter struct {
	addr    string
	sig     string
	indexed []*string
	data    []*string
}

// goloop's txresult.DecomposeEventSignature.
var eventSignature = regexp.MustCompile(`^(\w+)\(((?:\w+)(?:,(?:\w+))*)\)$`)

var canonicalArg = map[string]*regexp.Regexp{
	"Address": regexp.MustCompile(`^(hx|cx)[0-9a-f]{40}$`),
	"int":     regexp.MustCompile(`^(0x0|-?0x[1-9a-f][0-9a-f]*)$`),
	"bytes":   regexp.MustCompile(`^0x([0-9a-f]{2})+$`),
	"str":     nil, // compared as the node prints it: the same string
}

// shareable returns the selector for req, or nil when the bridge cannot be
// sure it would match exactly what a node matches: filters a node would
// refuse, argument types it stores ambiguously (bool), argument spellings it
// would normalize (uppercase hex, leading zeros, 0x-prefixed addresses), and
// data arguments (a node converts them by the filter's idea of how many
// arguments are indexed, which need not be the log's, so equal bytes can
// print differently). Those subscriptions keep an upstream session of their own.
func shareable(req *request) *selector {
	fs := req.EventFilters
	if req.Event != "" {
		if len(fs) > 0 {
			return nil // goloop refuses both forms together
		}
		fs = []filter{{Addr: req.Addr, Event: req.Event, Indexed: req.Indexed, Data: req.Data}}
	}
	if len(fs) == 0 {
		return nil
	}
	sel := &selector{logs: req.Logs == "0x1"}
	for _, f := range fs {
		m := eventSignature.FindStringSubmatch(f.Event)
		if m == nil || (f.Addr != "" && !canonicalArg["Address"].MatchString(f.Addr)) {
			return nil
		}
		types := strings.Split(m[2], ",")
		if len(f.Indexed)+len(f.Data) > len(types) || slices.ContainsFunc(f.Data, func(a *string) bool { return a != nil }) {
			return nil
		}
		for i, arg := range append(append([]*string(nil), f.Indexed...), f.Data...) {
			re, known := canonicalArg[types[i]]
			if !known {
				return nil
			}
			if arg != nil && re != nil && !re.MatchString(*arg) {
				return nil
			}
		}
		key, err := json.Marshal(&f)
		if err != nil {
			return nil
		}
		sel.filters = append(sel.filters, evFilter{addr: f.Addr, sig: f.Event, indexed: f.Indexed, data: f.Data})
		sel.keys = append(sel.keys, string(key))
	}
	return sel
}

// match is goloop's EventFilter.MatchLog over a log as a node prints it.
func (f *evFilter) match(log *fastjson.Value) bool {
	ind := log.GetArray("indexed")
	if len(ind) == 0 || !strEq(ind[0], f.sig) {
		return false
	}
	if f.addr != "" && string(log.GetStringBytes("scoreAddress")) != f.addr {
		return false
	}
	if len(f.indexed)+len(f.data) == 0 {
		return true
	}
	data := log.GetArray("data")
	if len(ind) <= len(f.indexed) || len(data) < len(f.data) {
		return false
	}
	for i, a := range f.indexed {
		if a != nil && !strEq(ind[i+1], *a) {
			return false
		}
	}
	for i, a := range f.data {
		if a != nil && !strEq(data[i], *a) {
			return false
		}
	}
	return true
}

func strEq(v *fastjson.Value, s string) bool {
	return v.Type() == fastjson.TypeString && string(v.GetStringBytes()) == s
}

// cut makes this selector's notification from one of the shared session's
// (hash, height, index, events, logs for every union filter): only the events
// its own filters match, logs only if it asked for them, everything else as
// the node wrote it. ok is false when none of the events are its own.
func (s *selector) cut(raw []byte, logs []*fastjson.Value) (out []byte, ok bool) {
	var keep []int
	for i, l := range logs {
		for j := range s.filters {
			if s.filters[j].match(l) {
				keep = append(keep, i)
				break
			}
		}
	}
	if len(keep) == 0 {
		return nil, false
	}
	// What surrounds the object (goloop's encoder ends each message with a
	// newline) is kept as well.
	start := rawjson.SkipSpace(raw, 0)
	end := rawjson.ValueEnd(raw, start)
	out = append(append(make([]byte, 0, len(raw)), raw[:start]...), '{')
	first := true
	for _, m := range members(raw) {
		key := string(m.Key[1 : len(m.Key)-1])
		if key == "logs" && !s.logs {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, m.Key...)
		out = append(out, ':')
		if key != "events" && key != "logs" {
			out = append(out, m.Val...)
			continue
		}
		elems := rawjson.Elements(m.Val)
		out = append(out, '[')
		for n, i := range keep {
			if n > 0 {
				out = append(out, ',')
			}
			out = append(out, elems[i]...)
		}
		out = append(out, ']')
	}
	return append(append(out, '}'), raw[end:]...), true
}

// members lists an object's members with their exact bytes, so what is
// relayed is what the node sent.
func members(b []byte) []rawjson.Member {
	var out []rawjson.Member
	rawjson.Members(b, func(m rawjson.Member) bool { out = append(out, m); return true })
	return out
}
