package cloudflare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/load_balancers"
	"github.com/cloudflare/cloudflare-go/v6/option"
	"github.com/prometheus/client_golang/prometheus"
)

// HealthPollerConfig configures the optional run-time reader of pool health.
type HealthPollerConfig struct {
	Options Options // token and base URL; the poller does its own backing off
	Config  Config  // the cloudflare: section
	// Regions whose pools are watched; empty: every configured region. An
	// edge usually watches only its own.
	Regions []string
	// Interval between polls; at least (and by default) one minute: the API
	// budget is about 1200 calls per 5 minutes per token, shared with apply.
	Interval time.Duration
	Registry prometheus.Registerer // where icon_edge_cloudflare_pool_healthy goes
	Logger   *slog.Logger
}

// HealthPoller copies what Cloudflare's monitors think of pools into the
// gauge icon_edge_cloudflare_pool_healthy{pool} (1 healthy, 0 not). It is
// for dashboards and alerts only: routing never waits on it.
type HealthPoller struct {
	client   *Client
	cfg      Config
	pools    []string // names
	interval time.Duration
	gauge    *prometheus.GaugeVec
	log      *slog.Logger

	mu      sync.Mutex
	ids     map[string]string // pool name -> id
	healthy map[string]bool
}

// NewHealthPoller checks the configuration and registers the gauge.
func NewHealthPoller(c HealthPollerConfig) (*HealthPoller, error) {
	if err := c.Config.Validate(); err != nil {
		return nil, err
	}
	o := c.Options
	o.Attempts = 1
	if c.Logger != nil {
		o.Logger = c.Logger
	}
	client, err := NewClient(o)
	if err != nil {
		return nil, err
	}
	p := &HealthPoller{
		client: client, cfg: c.Config, interval: max(c.Interval, time.Minute), log: client.log,
		ids: map[string]string{}, healthy: map[string]bool{},
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "icon_edge_cloudflare_pool_healthy",
			Help: "Whether Cloudflare's monitors see the pool as healthy (1) or not (0), read from the API at most once a minute.",
		}, []string{"pool"}),
	}
	regions := c.Regions
	if len(regions) == 0 {
		regions = c.Config.Regions()
	}
	for _, r := range regions {
		if _, ok := c.Config.Pool(r); !ok {
			return nil, fmt.Errorf("cloudflare health: region %q is not in cloudflare.pools", r)
		}
		p.pools = append(p.pools, PoolName(c.Config.Hostname, r))
	}
	if c.Registry != nil {
		if err := c.Registry.Register(p.gauge); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Start polls in the background until ctx ends.
func (p *HealthPoller) Start(ctx context.Context) {
	go func() {
		failures := 0
		for {
			err := p.PollOnce(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				failures++
				p.log.Warn("cannot read pool health from Cloudflare", "err", err)
			} else {
				failures = 0
			}
			if sleepCtx(ctx, p.nextDelay(err, failures)) != nil {
				return
			}
		}
	}()
}

// nextDelay is the interval, doubled per consecutive failure up to ten
// minutes, and never shorter than a 429's Retry-After.
func (p *HealthPoller) nextDelay(err error, failures int) time.Duration {
	d := p.interval
	for i := 0; i < failures && d < 10*time.Minute; i++ {
		d *= 2
	}
	d = min(d, max(10*time.Minute, p.interval))
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests && apiErr.RetryAfter > d {
		d = apiErr.RetryAfter
	}
	return d
}

// Healthy is the last reading for a region's pool; known is false before
// the first successful reading.
func (p *HealthPoller) Healthy(region string) (healthy, known bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.healthy[PoolName(p.cfg.Hostname, region)]
	return h, ok
}

// PollOnce reads every watched pool's health once. A pool with no reading
// keeps its last value; errors are joined.
func (p *HealthPoller) PollOnce(ctx context.Context) error {
	p.mu.Lock()
	missing := len(p.ids) < len(p.pools)
	p.mu.Unlock()
	if missing {
		if err := p.resolve(ctx); err != nil {
			return err
		}
	}
	var errs []error
	for _, name := range p.pools {
		p.mu.Lock()
		id := p.ids[name]
		p.mu.Unlock()
		if id == "" {
			errs = append(errs, fmt.Errorf("pool %s does not exist on Cloudflare (run icon-edge cloudflare apply)", name))
			continue
		}
		healthy, known, err := p.read(ctx, name, id)
		if err != nil {
			var apiErr *APIError
			if errors.As(err, &apiErr) && apiErr.NotFound() {
				p.mu.Lock()
				delete(p.ids, name) // recreated under a new id: look it up again
				p.mu.Unlock()
			}
			errs = append(errs, err)
			if errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests {
				break // every further call would be refused too
			}
			continue
		}
		if !known {
			continue
		}
		v := 0.0
		if healthy {
			v = 1
		}
		p.gauge.WithLabelValues(name).Set(v)
		p.mu.Lock()
		p.healthy[name] = healthy
		p.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (p *HealthPoller) resolve(ctx context.Context) error {
	pools, err := p.client.listPools(ctx, p.cfg.AccountID)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rp := range pools {
		for _, name := range p.pools {
			if rp.Name == name {
				p.ids[name] = rp.ID
			}
		}
	}
	return nil
}

// read asks for one pool's health. The API answers per Cloudflare data
// center; the pool counts as healthy when most of them see it healthy.
// (cloudflare-go's type for this answer has pop_health as one object where
// the API sends a map, so the body is read here.)
func (p *HealthPoller) read(ctx context.Context, name, id string) (healthy, known bool, err error) {
	var raw []byte
	err = p.client.call(ctx, "read health of pool "+name, func(ctx context.Context) error {
		var q load_balancers.PoolHealthGetParams
		set(&q.AccountID, p.cfg.AccountID)
		_, err := p.client.lb.Pools.Health.Get(ctx, id, q, option.WithResponseBodyInto(&raw))
		return err
	})
	if err != nil {
		return false, false, err
	}
	var env struct {
		Result struct {
			POPHealth map[string]struct {
				Healthy bool `json:"healthy"`
			} `json:"pop_health"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return false, false, fmt.Errorf("read health of pool %s: unexpected answer: %w", name, err)
	}
	pops := env.Result.POPHealth
	if len(pops) == 0 {
		return false, false, nil
	}
	up := 0
	for _, h := range pops {
		if h.Healthy {
			up++
		}
	}
	return 2*up > len(pops), true, nil
}
