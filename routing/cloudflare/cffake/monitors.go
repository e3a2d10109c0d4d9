package cffake

import (
	"net/http"
	"slices"
	"strings"
)

type monitor struct {
	ID              string              `json:"id"`
	CreatedOn       string              `json:"created_on"`
	ModifiedOn      string              `json:"modified_on"`
	Description     string              `json:"description"`
	Type            string              `json:"type"`
	Method          string              `json:"method"`
	Path            string              `json:"path"`
	ExpectedCodes   string              `json:"expected_codes"`
	ExpectedBody    string              `json:"expected_body"`
	Interval        int64               `json:"interval"`
	Timeout         int64               `json:"timeout"`
	Retries         int64               `json:"retries"`
	ConsecutiveUp   int64               `json:"consecutive_up"`
	ConsecutiveDown int64               `json:"consecutive_down"`
	Header          map[string][]string `json:"header"`
	Port            int64               `json:"port"`
	AllowInsecure   bool                `json:"allow_insecure"`
	FollowRedirects bool                `json:"follow_redirects"`
	ProbeZone       string              `json:"probe_zone"`
}

// monitorIn is a request body: pointers tell a missing field from a zero.
type monitorIn struct {
	Description     *string              `json:"description"`
	Type            *string              `json:"type"`
	Method          *string              `json:"method"`
	Path            *string              `json:"path"`
	ExpectedCodes   *string              `json:"expected_codes"`
	ExpectedBody    *string              `json:"expected_body"`
	Interval        *int64               `json:"interval"`
	Timeout         *int64               `json:"timeout"`
	Retries         *int64               `json:"retries"`
	ConsecutiveUp   *int64               `json:"consecutive_up"`
	ConsecutiveDown *int64               `json:"consecutive_down"`
	Header          *map[string][]string `json:"header"`
	Port            *int64               `json:"port"`
	AllowInsecure   *bool                `json:"allow_insecure"`
	FollowRedirects *bool                `json:"follow_redirects"`
	ProbeZone       *string              `json:"probe_zone"`
}

// defaultMonitor is what Cloudflare fills in for fields a create omits.
func defaultMonitor() monitor {
	return monitor{Type: "http", Method: "GET", Path: "/", Interval: 60, Timeout: 5, Retries: 2, Header: map[string][]string{}}
}

func pick[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (in *monitorIn) applyTo(m *monitor) {
	pick(&m.Description, in.Description)
	pick(&m.Type, in.Type)
	pick(&m.Method, in.Method)
	pick(&m.Path, in.Path)
	pick(&m.ExpectedCodes, in.ExpectedCodes)
	pick(&m.ExpectedBody, in.ExpectedBody)
	pick(&m.Interval, in.Interval)
	pick(&m.Timeout, in.Timeout)
	pick(&m.Retries, in.Retries)
	pick(&m.ConsecutiveUp, in.ConsecutiveUp)
	pick(&m.ConsecutiveDown, in.ConsecutiveDown)
	pick(&m.Header, in.Header)
	pick(&m.Port, in.Port)
	pick(&m.AllowInsecure, in.AllowInsecure)
	pick(&m.FollowRedirects, in.FollowRedirects)
	pick(&m.ProbeZone, in.ProbeZone)
	if m.Header == nil {
		m.Header = map[string][]string{}
	}
}

var monitorTypes = []string{"http", "https", "tcp", "udp_icmp", "icmp_ping", "smtp"}

func validateMonitor(m *monitor) *reply {
	bad := func(format string, args ...any) *reply { r := invalid(format, args...); return &r }
	switch {
	case !slices.Contains(monitorTypes, m.Type):
		return bad("type must be one of %s", strings.Join(monitorTypes, ", "))
	case m.Interval < 10 || m.Interval > 3600:
		return bad("interval must be between 10 and 3600 seconds")
	case m.Timeout < 1 || m.Timeout > 10:
		return bad("timeout must be between 1 and 10 seconds")
	case m.Retries < 0 || m.Retries > 5:
		return bad("retries must be between 0 and 5")
	case m.ConsecutiveUp < 0 || m.ConsecutiveDown < 0:
		return bad("consecutive_up and consecutive_down must not be negative")
	case m.Port < 0 || m.Port > 65535:
		return bad("port must be between 0 and 65535")
	}
	if m.Type == "http" || m.Type == "https" {
		switch {
		case m.ExpectedCodes == "":
			return bad("expected_codes is required for HTTP and HTTPS monitors")
		case m.Method != "GET" && m.Method != "HEAD":
			return bad("method must be GET or HEAD for HTTP and HTTPS monitors")
		case !strings.HasPrefix(m.Path, "/"):
			return bad("path must start with /")
		}
		for k := range m.Header {
			if strings.EqualFold(k, "User-Agent") {
				return bad("the User-Agent header cannot be overridden")
			}
		}
	}
	return nil
}

func (s *Server) monitorsAPI(r *http.Request, rest []string) reply {
	if len(rest) == 0 {
		switch r.Method {
		case http.MethodGet:
			return page(r, s.monitors.all(), s.opts.MaxPerPage)
		case http.MethodPost:
			var in monitorIn
			if rep := decode(r, &in); rep != nil {
				return *rep
			}
			m := defaultMonitor()
			in.applyTo(&m)
			if rep := validateMonitor(&m); rep != nil {
				return *rep
			}
			m.ID, m.CreatedOn = newID(), now()
			m.ModifiedOn = m.CreatedOn
			s.monitors.add(m.ID, &m)
			return ok(&m)
		}
		return methodNotAllowed()
	}
	if len(rest) != 1 {
		return notFound("route")
	}
	cur := s.monitors.get(rest[0])
	if cur == nil {
		return notFound("monitor")
	}
	switch r.Method {
	case http.MethodGet:
		return ok(cur)
	case http.MethodPut, http.MethodPatch:
		var in monitorIn
		if rep := decode(r, &in); rep != nil {
			return *rep
		}
		next := *cur
		if r.Method == http.MethodPut { // PUT replaces: omitted fields go back to defaults
			next = defaultMonitor()
			next.ID, next.CreatedOn = cur.ID, cur.CreatedOn
		}
		in.applyTo(&next)
		if rep := validateMonitor(&next); rep != nil {
			return *rep
		}
		next.ModifiedOn = now()
		*cur = next
		return ok(cur)
	case http.MethodDelete:
		for _, p := range s.pools.all() {
			if p.Monitor == cur.ID {
				return invalid("monitor %s is in use by pool %s (%s)", cur.ID, p.Name, p.ID)
			}
		}
		s.monitors.remove(cur.ID)
		return ok(map[string]string{"id": cur.ID})
	}
	return methodNotAllowed()
}
