package cloudflare

import (
	"reflect"

	"github.com/cloudflare/cloudflare-go/v6/load_balancers"
)

// set fills a cloudflare-go request field (param.Field[T]). The SDK's own
// helper, cloudflare.F, lives in its root package, which imports every
// Cloudflare product and takes minutes to compile; Value and Present are
// all F sets, and both are exported.
func set[F, T any](dst *F, v T) {
	rv := reflect.ValueOf(dst).Elem()
	rv.FieldByName("Value").Set(reflect.ValueOf(v))
	rv.FieldByName("Present").SetBool(true)
}

func monitorNewParams(account string, m Monitor) load_balancers.MonitorNewParams {
	var p load_balancers.MonitorNewParams
	fillMonitor(&p, account, m)
	return p
}

func monitorUpdateParams(account string, m Monitor) load_balancers.MonitorUpdateParams {
	var p load_balancers.MonitorUpdateParams
	fillMonitor(&p, account, m)
	return p
}

// fillMonitor sets a monitor's fields on create or update params: the SDK
// generates a separate type for each, field for field the same, so one
// filler by field name serves both (the type field converts to either
// params' own string type).
func fillMonitor(params any, account string, m Monitor) {
	rv := reflect.ValueOf(params).Elem()
	for name, v := range map[string]any{
		"AccountID": account, "Description": m.Description, "Type": m.Type, "Method": m.Method,
		"Path": m.Path, "ExpectedCodes": m.ExpectedCodes, "Interval": m.Interval, "Timeout": m.Timeout,
		"Retries": m.Retries, "ConsecutiveUp": m.ConsecutiveUp, "ConsecutiveDown": m.ConsecutiveDown,
		"Header": nonNilHeader(m.Header), "Port": m.Port, "AllowInsecure": m.AllowInsecure,
		"FollowRedirects": m.FollowRedirects,
	} {
		field := rv.FieldByName(name)
		value := field.FieldByName("Value")
		value.Set(reflect.ValueOf(v).Convert(value.Type()))
		field.FieldByName("Present").SetBool(true)
	}
}

func nonNilHeader(h map[string][]string) map[string][]string {
	if h == nil {
		return map[string][]string{}
	}
	return h
}

func originParams(os []Origin) []load_balancers.OriginParam {
	out := make([]load_balancers.OriginParam, len(os))
	for i, o := range os {
		var h load_balancers.HeaderParam
		set(&h.Host, o.Host)
		set(&out[i].Name, o.Name)
		set(&out[i].Address, o.Address)
		set(&out[i].Enabled, o.Enabled)
		set(&out[i].Weight, o.Weight)
		set(&out[i].Header, h)
	}
	return out
}

func poolNewParams(account, monitorID string, p Pool) load_balancers.PoolNewParams {
	var q load_balancers.PoolNewParams
	set(&q.AccountID, account)
	set(&q.Name, p.Name)
	set(&q.Description, p.Description)
	set(&q.Enabled, p.Enabled)
	set(&q.MinimumOrigins, p.MinimumOrigins)
	set(&q.Monitor, monitorID)
	set(&q.Latitude, p.Latitude)
	set(&q.Longitude, p.Longitude)
	set(&q.Origins, originParams(p.Origins))
	return q
}

func poolUpdateParams(account, monitorID string, p Pool) load_balancers.PoolUpdateParams {
	var q load_balancers.PoolUpdateParams
	set(&q.AccountID, account)
	set(&q.Name, p.Name)
	set(&q.Description, p.Description)
	set(&q.Enabled, p.Enabled)
	set(&q.MinimumOrigins, p.MinimumOrigins)
	set(&q.Monitor, monitorID)
	set(&q.Latitude, p.Latitude)
	set(&q.Longitude, p.Longitude)
	set(&q.Origins, originParams(p.Origins))
	return q
}

// lbIDs is a load balancer with pool names resolved to ids.
type lbIDs struct {
	defaults    []string
	fallback    string
	regionPools map[string][]string
}

func lbNewParams(zone string, lb LoadBalancer, ids lbIDs) load_balancers.LoadBalancerNewParams {
	var q load_balancers.LoadBalancerNewParams
	set(&q.ZoneID, zone)
	set(&q.Name, lb.Name)
	set(&q.Description, lb.Description)
	set(&q.Proxied, lb.Proxied)
	set(&q.SteeringPolicy, load_balancers.SteeringPolicy(lb.SteeringPolicy))
	set(&q.SessionAffinity, load_balancers.SessionAffinity(lb.SessionAffinity))
	set(&q.DefaultPools, ids.defaults)
	set(&q.FallbackPool, ids.fallback)
	set(&q.RegionPools, ids.regionPools)
	return q
}

func lbUpdateParams(zone string, lb LoadBalancer, ids lbIDs) load_balancers.LoadBalancerUpdateParams {
	var q load_balancers.LoadBalancerUpdateParams
	set(&q.ZoneID, zone)
	set(&q.Name, lb.Name)
	set(&q.Description, lb.Description)
	set(&q.Proxied, lb.Proxied)
	set(&q.SteeringPolicy, load_balancers.SteeringPolicy(lb.SteeringPolicy))
	set(&q.SessionAffinity, load_balancers.SessionAffinity(lb.SessionAffinity))
	set(&q.DefaultPools, ids.defaults)
	set(&q.FallbackPool, ids.fallback)
	set(&q.RegionPools, ids.regionPools)
	return q
}
