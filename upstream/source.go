package upstream

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
)

// Source lists the nodes behind one configured upstream. Static URLs list
// themselves; DNS names list one node per A/AAAA record, which is how a
// Kubernetes headless service, Consul DNS or a Route53 multivalue record
// tells the edge about autoscaled nodes.
type Source interface {
	// Nodes returns the base URLs (scheme://host:port) the source lists now.
	Nodes(ctx context.Context) ([]string, error)
	String() string
}

// Resolver is the part of net.Resolver a DNS source needs; tests swap it.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// ParseSource turns one --upstream value into a Source:
// "http://host:port" (static) or "dns+http://name:port" (every address of name).
func ParseSource(raw string, resolver Resolver) (Source, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %v", raw, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("upstream %q: want http://host:port or dns+http://name:port", raw)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("upstream %q: give only scheme, host and port; the edge adds /api/v3 itself", raw)
	}
	switch u.Scheme {
	case "http", "https":
		return staticSource(u.Scheme + "://" + u.Host), nil
	case "dns+http", "dns+https":
		port := u.Port()
		if port == "" {
			return nil, fmt.Errorf("upstream %q: a DNS upstream needs a port", raw)
		}
		if resolver == nil {
			resolver = net.DefaultResolver
		}
		return &dnsSource{scheme: strings.TrimPrefix(u.Scheme, "dns+"), name: u.Hostname(), port: port, resolver: resolver}, nil
	}
	return nil, fmt.Errorf("upstream %q: unknown scheme %q (want http, https, dns+http or dns+https)", raw, u.Scheme)
}

type staticSource string

func (s staticSource) Nodes(context.Context) ([]string, error) { return []string{string(s)}, nil }
func (s staticSource) String() string                          { return string(s) }

type dnsSource struct {
	scheme, name, port string
	resolver           Resolver
}

func (d *dnsSource) Nodes(ctx context.Context) ([]string, error) {
	addrs, err := d.resolver.LookupIPAddr(ctx, d.name)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", d.name, err)
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, d.scheme+"://"+net.JoinHostPort(a.IP.String(), d.port))
	}
	sort.Strings(out)
	return out, nil
}

func (d *dnsSource) String() string {
	return "dns+" + d.scheme + "://" + net.JoinHostPort(d.name, d.port)
}
