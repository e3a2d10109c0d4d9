package main

import (
	pschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// cloudflareProvider declares cloudflare/cloudflare ~> 5.0 (the generated,
// attribute-only schemas of v5) as far as modules/cloudflare-lb uses it.
func cloudflareProvider() *standin {
	poolIDs := types.ListType{ElemType: types.StringType}
	return &standin{
		name: "cloudflare",
		config: map[string]pschema.Attribute{
			"api_token": sensitiveStr(),
			"api_key":   sensitiveStr(),
			"email":     pschema.StringAttribute{Optional: true},
			"base_url":  pschema.StringAttribute{Optional: true},
		},
		resources: map[string]rschema.Schema{
			"cloudflare_load_balancer_monitor": {Attributes: attrs{
				"id":               str(cmp),
				"account_id":       str(req),
				"description":      str(opt),
				"expected_body":    str(opt),
				"probe_zone":       str(opt),
				"header":           str(opt), // a JSON object; the contract leaves it empty
				"allow_insecure":   boolean(oc),
				"consecutive_down": integer(oc),
				"consecutive_up":   integer(oc),
				"expected_codes":   str(oc),
				"follow_redirects": boolean(oc),
				"interval":         integer(oc),
				"method":           str(oc),
				"path":             str(oc),
				"port":             integer(oc),
				"retries":          integer(oc),
				"timeout":          integer(oc),
				"type":             str(oc),
				"created_on":       str(cmp),
				"modified_on":      str(cmp),
			}},
			"cloudflare_load_balancer_pool": {Attributes: attrs{
				"id":         str(cmp),
				"account_id": str(req),
				"name":       str(req),
				"origins": rschema.ListNestedAttribute{Required: true, NestedObject: rschema.NestedAttributeObject{Attributes: attrs{
					"address":     str(opt),
					"disabled_at": str(cmp),
					"enabled":     boolean(oc),
					"header": rschema.SingleNestedAttribute{Optional: true, Attributes: attrs{
						"host": strList(opt),
					}},
					"name":               str(opt),
					"virtual_network_id": str(opt),
					"weight":             float(oc),
				}}},
				"description":        str(opt),
				"latitude":           float(opt),
				"longitude":          float(opt),
				"notification_email": str(opt),
				"check_regions":      strList(opt),
				"monitor":            str(opt),
				"enabled":            boolean(oc),
				"minimum_origins":    integer(oc),
				"created_on":         str(cmp),
				"disabled_at":        str(cmp),
				"modified_on":        str(cmp),
			}},
			"cloudflare_load_balancer": {Attributes: attrs{
				"id":                   str(cmp),
				"zone_id":              str(req),
				"description":          str(oc),
				"enabled":              boolean(oc),
				"fallback_pool":        str(oc),
				"name":                 str(oc),
				"proxied":              boolean(oc),
				"session_affinity":     str(oc),
				"session_affinity_ttl": float(oc),
				"steering_policy":      str(oc),
				"ttl":                  float(oc),
				"country_pools":        rschema.MapAttribute{ElementType: poolIDs, Optional: true, Computed: true},
				"default_pools":        strList(oc),
				"networks":             strList(oc),
				"pop_pools":            rschema.MapAttribute{ElementType: poolIDs, Optional: true, Computed: true},
				"region_pools":         rschema.MapAttribute{ElementType: poolIDs, Optional: true, Computed: true},
				"created_on":           str(cmp),
				"modified_on":          str(cmp),
				"zone_name":            str(cmp),
			}},
		},
	}
}
