// Command standin is a Terraform provider that declares, for validation
// only, the resource types and attributes infra/terraform uses from
// hashicorp/aws (~> 6.0) and cloudflare/cloudflare (~> 5.0). No provider
// registry is reachable where the tests run; installed from a filesystem
// mirror under the real provider addresses, it lets the real terraform
// binary run init, validate and plan on every module and example.
//
// The schemas copy the real providers' names, types and
// required/optional/computed flags for the attributes the modules set or
// read (taken from the providers' sources); an attribute the real provider
// lacks, a misspelt one, a wrong type or a missing required argument fails
// `terraform validate` here as it would against the real provider. Apply is
// refused: this provider never talks to AWS or Cloudflare.
//
// The binary serves aws or cloudflare according to its file name
// (terraform-provider-aws_* or terraform-provider-cloudflare_*).
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	pschema "github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
)

type standin struct {
	name        string
	config      map[string]pschema.Attribute
	resources   map[string]rschema.Schema
	dataSources map[string]dataSourceSchema
}

func (p *standin) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = p.name
	resp.Version = "standin"
}

func (p *standin) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = pschema.Schema{Attributes: p.config}
}

func (p *standin) Configure(context.Context, provider.ConfigureRequest, *provider.ConfigureResponse) {
}

func (p *standin) Resources(context.Context) []func() resource.Resource {
	var out []func() resource.Resource
	for name, s := range p.resources {
		out = append(out, func() resource.Resource { return &genericResource{name: name, schema: s} })
	}
	return out
}

func (p *standin) DataSources(context.Context) []func() datasource.DataSource {
	var out []func() datasource.DataSource
	for name, s := range p.dataSources {
		out = append(out, func() datasource.DataSource { return &genericDataSource{name: name, schema: s} })
	}
	return out
}

const refuse = "this is the validation stand-in for the real provider (infra/test/standin); it never creates, reads or changes real objects"

type genericResource struct {
	name   string
	schema rschema.Schema
}

func (r *genericResource) Metadata(_ context.Context, _ resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = r.name
}

func (r *genericResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = r.schema
}

func (r *genericResource) Create(_ context.Context, _ resource.CreateRequest, resp *resource.CreateResponse) {
	resp.Diagnostics.AddError("stand-in provider", refuse)
}

func (r *genericResource) Read(_ context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	resp.State = req.State
}

func (r *genericResource) Update(_ context.Context, _ resource.UpdateRequest, resp *resource.UpdateResponse) {
	resp.Diagnostics.AddError("stand-in provider", refuse)
}

func (r *genericResource) Delete(_ context.Context, _ resource.DeleteRequest, resp *resource.DeleteResponse) {
	resp.Diagnostics.AddError("stand-in provider", refuse)
}

type genericDataSource struct {
	name   string
	schema dataSourceSchema
}

func (d *genericDataSource) Metadata(_ context.Context, _ datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = d.name
}

func (d *genericDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = d.schema
}

func (d *genericDataSource) Read(_ context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	resp.Diagnostics.AddError("stand-in provider", refuse)
}

func main() {
	base := filepath.Base(os.Args[0])
	var p *standin
	var addr string
	switch {
	case strings.HasPrefix(base, "terraform-provider-aws"):
		p, addr = awsProvider(), "registry.terraform.io/hashicorp/aws"
	case strings.HasPrefix(base, "terraform-provider-cloudflare"):
		p, addr = cloudflareProvider(), "registry.terraform.io/cloudflare/cloudflare"
	default:
		fmt.Fprintf(os.Stderr, "standin: name the binary terraform-provider-aws_* or terraform-provider-cloudflare_* (got %s)\n", base)
		os.Exit(2)
	}
	err := providerserver.Serve(context.Background(), func() provider.Provider { return p }, providerserver.ServeOpts{Address: addr})
	if err != nil {
		log.Fatal(err)
	}
}
