package main

import (
	"github.com/hashicorp/terraform-plugin-framework/attr"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	pschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type dataSourceSchema = dschema.Schema

// Argument modes, as the real schemas declare them.
type mode int

const (
	req mode = iota // Required
	opt             // Optional
	cmp             // Computed only
	oc              // Optional + Computed (a default or a value the API fills in)
)

func (m mode) flags() (required, optional, computed bool) {
	return m == req, m == opt || m == oc, m == cmp || m == oc
}

type attrs = map[string]rschema.Attribute
type blocks = map[string]rschema.Block

func str(m mode) rschema.Attribute {
	r, o, c := m.flags()
	return rschema.StringAttribute{Required: r, Optional: o, Computed: c}
}

func sensitiveStr() pschema.Attribute {
	return pschema.StringAttribute{Optional: true, Sensitive: true}
}

func integer(m mode) rschema.Attribute {
	r, o, c := m.flags()
	return rschema.Int64Attribute{Required: r, Optional: o, Computed: c}
}

func float(m mode) rschema.Attribute {
	r, o, c := m.flags()
	return rschema.Float64Attribute{Required: r, Optional: o, Computed: c}
}

func boolean(m mode) rschema.Attribute {
	r, o, c := m.flags()
	return rschema.BoolAttribute{Required: r, Optional: o, Computed: c}
}

func strList(m mode) rschema.Attribute {
	r, o, c := m.flags()
	return rschema.ListAttribute{ElementType: types.StringType, Required: r, Optional: o, Computed: c}
}

func strSet(m mode) rschema.Attribute {
	r, o, c := m.flags()
	return rschema.SetAttribute{ElementType: types.StringType, Required: r, Optional: o, Computed: c}
}

func strMap(m mode) rschema.Attribute {
	r, o, c := m.flags()
	return rschema.MapAttribute{ElementType: types.StringType, Required: r, Optional: o, Computed: c}
}

// computedObjects is an SDKv2 computed-only nested set: the protocol shows
// it as an attribute of type set(object).
func computedObjects(fields ...string) rschema.Attribute {
	t := map[string]attr.Type{}
	for _, f := range fields {
		t[f] = types.StringType
	}
	return rschema.SetAttribute{ElementType: types.ObjectType{AttrTypes: t}, Computed: true}
}

// listBlock is an SDKv2 TypeList of Resource (MaxItems 1 or not): a list
// nesting block in the protocol.
func listBlock(a attrs, b blocks) rschema.Block {
	return rschema.ListNestedBlock{NestedObject: rschema.NestedBlockObject{Attributes: a, Blocks: b}}
}

func setBlock(a attrs, b blocks) rschema.Block {
	return rschema.SetNestedBlock{NestedObject: rschema.NestedBlockObject{Attributes: a, Blocks: b}}
}

// awsResource adds what every aws ~> 6.0 resource has: id, the per-resource
// region override, and (where tagged) tags/tags_all.
func awsResource(tagged bool, a attrs, b blocks) rschema.Schema {
	a["id"] = str(cmp)
	a["region"] = str(oc)
	if tagged {
		a["tags"] = strMap(opt)
		a["tags_all"] = strMap(cmp)
	}
	return rschema.Schema{Attributes: a, Blocks: b}
}

func dStr(m mode) dschema.Attribute {
	r, o, c := m.flags()
	return dschema.StringAttribute{Required: r, Optional: o, Computed: c}
}
