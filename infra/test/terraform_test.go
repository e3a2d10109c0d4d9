package infratest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/icon-edge/icon-edge/infra/test/tfeval"
)

// terraformDirs are every module and example, relative to infra/terraform.
func terraformDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	for _, kind := range []string{"modules", "examples"} {
		entries, err := os.ReadDir(infraDir(t, "terraform", kind))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join(kind, e.Name()))
			}
		}
	}
	if len(dirs) < 9 {
		t.Fatalf("expected 5 modules and 4 examples, found %v", dirs)
	}
	return dirs
}

var pinned = regexp.MustCompile(`^~> \d+\.\d+(\.\d+)?$|<`)

// Static checks with the HCL parser: every variable typed, documented and
// used; every output documented; modules have outputs; providers pinned to
// a major version; a minimum Terraform version.
func TestTerraformStatic(t *testing.T) {
	for _, dir := range terraformDirs(t) {
		t.Run(dir, func(t *testing.T) {
			m, err := tfeval.Load(infraDir(t, "terraform", dir))
			if err != nil {
				t.Fatal(err)
			}
			used := map[string]bool{}
			for _, b := range m.Blocks {
				hclsyntax.VisitAll(b.Body, func(n hclsyntax.Node) hcl.Diagnostics {
					if e, ok := n.(*hclsyntax.ScopeTraversalExpr); ok && e.Traversal.RootName() == "var" && len(e.Traversal) > 1 {
						if a, ok := e.Traversal[1].(hcl.TraverseAttr); ok {
							used[a.Name] = true
						}
					}
					return nil
				})
			}
			for _, v := range m.BlocksOf("variable") {
				name := v.Labels[0]
				if d := stringAttr(t, v, "description"); len(d) < 10 {
					t.Errorf("variable %q: description missing or too short (%q)", name, d)
				}
				if _, ok := v.Body.Attributes["type"]; !ok {
					t.Errorf("variable %q has no type", name)
				}
				if !used[name] {
					t.Errorf("variable %q is never used", name)
				}
			}
			outputs := m.BlocksOf("output")
			if strings.HasPrefix(dir, "modules") && len(outputs) == 0 {
				t.Error("module has no outputs")
			}
			for _, o := range outputs {
				if d := stringAttr(t, o, "description"); len(d) < 10 {
					t.Errorf("output %q: description missing or too short", o.Labels[0])
				}
			}
			tf := m.BlocksOf("terraform")
			if len(tf) != 1 {
				t.Fatalf("want one terraform block, found %d", len(tf))
			}
			if v := stringAttr(t, tf[0], "required_version"); !strings.HasPrefix(v, ">= 1.5") {
				t.Errorf("required_version %q, want >= 1.5.x (what CI installs)", v)
			}
			providers := 0
			for _, rp := range tf[0].Body.Blocks {
				if rp.Type != "required_providers" {
					continue
				}
				for name, a := range rp.Body.Attributes {
					providers++
					v, diags := a.Expr.Value(nil)
					if diags.HasErrors() {
						t.Fatal(diags)
					}
					src, ver := v.GetAttr("source").AsString(), v.GetAttr("version").AsString()
					if !strings.Contains(src, "/") || !pinned.MatchString(ver) {
						t.Errorf("provider %s: source %q version %q: want a source and a version bounded above (~> X.Y)", name, src, ver)
					}
				}
			}
			if providers == 0 {
				t.Error("no required_providers")
			}
		})
	}
}

func stringAttr(t *testing.T, b *hclsyntax.Block, name string) string {
	a, ok := b.Body.Attributes[name]
	if !ok {
		return ""
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.Type().Equals(ctyString) {
		return ""
	}
	return v.AsString()
}

// standinMirror builds the stand-in provider and lays it out as a
// filesystem mirror of hashicorp/aws 6.0.0 and cloudflare/cloudflare 5.0.0;
// it returns the environment that points terraform at it (and nowhere else).
func standinMirror(t *testing.T) []string {
	t.Helper()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "standin")
	run(t, ".", nil, "go", "build", "-o", bin, "./standin")
	mirror := filepath.Join(tmp, "mirror")
	plat := runtime.GOOS + "_" + runtime.GOARCH
	for _, p := range []struct{ addr, name, version string }{
		{"registry.terraform.io/hashicorp/aws", "aws", "6.0.0"},
		{"registry.terraform.io/cloudflare/cloudflare", "cloudflare", "5.0.0"},
	} {
		dir := filepath.Join(mirror, p.addr, p.version, plat)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(bin, filepath.Join(dir, fmt.Sprintf("terraform-provider-%s_v%s", p.name, p.version))); err != nil {
			t.Fatal(err)
		}
	}
	rc := filepath.Join(tmp, "terraformrc")
	cfg := fmt.Sprintf(`provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/hashicorp/aws", "registry.terraform.io/cloudflare/cloudflare"]
  }
}
`, mirror)
	if err := os.WriteFile(rc, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"TF_CLI_CONFIG_FILE=" + rc, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1",
		"TF_DATA_DIR=", "TF_PLUGIN_CACHE_DIR="}
}

// The real terraform binary on every module and example: fmt -check, then
// init -backend=false and validate against the stand-in providers; a plan
// of the Cloudflare example must match the HCL evaluation and the contract.
func TestTerraformValidate(t *testing.T) {
	tf := needTool(t, "terraform", "go install github.com/hashicorp/terraform@v1.5.7")
	t.Logf("%s", strings.SplitN(run(t, ".", []string{"TF_CLI_CONFIG_FILE=/dev/null"}, tf, "version"), "\n", 2)[0])
	src := infraDir(t, "terraform")
	run(t, src, nil, tf, "fmt", "-check", "-recursive", "-diff")

	env := standinMirror(t)
	work := t.TempDir()
	copyTree(t, src, work)
	for _, dir := range terraformDirs(t) {
		d := filepath.Join(work, dir)
		run(t, d, env, tf, "init", "-backend=false", "-input=false", "-no-color")
		out := run(t, d, env, tf, "validate", "-no-color")
		if !strings.Contains(out, "Success") {
			t.Errorf("%s: %s", dir, out)
		}
	}

	// Plan the Cloudflare example: real Terraform evaluates the module.
	d := filepath.Join(work, "examples", "cloudflare-lb")
	planFile := filepath.Join(work, "cf.plan")
	run(t, d, env, tf, "plan", "-input=false", "-no-color", "-var", "account_id=0123456789abcdef0123456789abcdef",
		"-var", "zone_id=fedcba9876543210fedcba9876543210", "-out", planFile)
	js := run(t, d, env, tf, "show", "-json", planFile)
	var plan struct {
		PlannedValues struct {
			Outputs map[string]struct {
				Value json.RawMessage `json:"value"`
			} `json:"outputs"`
			RootModule struct {
				ChildModules []struct {
					Resources []struct {
						Address string          `json:"address"`
						Values  json.RawMessage `json:"values"`
					} `json:"resources"`
				} `json:"child_modules"`
			} `json:"root_module"`
		} `json:"planned_values"`
	}
	if err := json.Unmarshal([]byte(js), &plan); err != nil {
		t.Fatal(err)
	}
	var names struct {
		Slug             string              `json:"slug"`
		Monitor          string              `json:"monitor_description"`
		PoolNames        map[string]string   `json:"pool_names"`
		RegionPools      map[string][]string `json:"region_pools"`
		DefaultPools     []string            `json:"default_pools"`
		FallbackPool     string              `json:"fallback_pool"`
		LoadBalancer     string              `json:"load_balancer"`
		PoolDescriptions map[string]string   `json:"pool_descriptions"`
	}
	if err := json.Unmarshal(plan.PlannedValues.Outputs["names"].Value, &names); err != nil {
		t.Fatal(err)
	}
	want := contract(exampleInput(t))
	if names.Monitor != want.Monitor.Description || names.LoadBalancer != want.LoadBalancer.Name ||
		names.FallbackPool != want.LoadBalancer.FallbackPool || !reflect.DeepEqual(names.DefaultPools, want.LoadBalancer.DefaultPools) ||
		!reflect.DeepEqual(names.RegionPools, want.LoadBalancer.RegionPools) {
		t.Errorf("terraform plan's names output differs from the contract:\n got %+v\nwant %+v", names, want.LoadBalancer)
	}
	// Planned resource arguments (ids are unknown until apply, so pool
	// references are checked through the names output above).
	planned := map[string]map[string]any{}
	for _, cm := range plan.PlannedValues.RootModule.ChildModules {
		for _, r := range cm.Resources {
			var v map[string]any
			if err := json.Unmarshal(r.Values, &v); err != nil {
				t.Fatal(err)
			}
			planned[r.Address] = v
		}
	}
	mon := planned["module.lb.cloudflare_load_balancer_monitor.this"]
	for k, w := range map[string]any{"description": want.Monitor.Description, "type": "https", "method": "GET",
		"path": "/readyz", "expected_codes": "200", "interval": 60.0, "timeout": 5.0, "retries": 1.0,
		"consecutive_up": 3.0, "consecutive_down": 2.0, "port": 443.0, "allow_insecure": false, "follow_redirects": false} {
		if !reflect.DeepEqual(mon[k], w) {
			t.Errorf("planned monitor %s = %v, want %v", k, mon[k], w)
		}
	}
	if mon["header"] != nil {
		t.Errorf("planned monitor header %v, want none", mon["header"])
	}
	for _, p := range want.Pools {
		region := p.Origins[0].Name
		got := planned[fmt.Sprintf("module.lb.cloudflare_load_balancer_pool.region[%q]", region)]
		origins, _ := json.Marshal(got["origins"])
		wantOrigins := fmt.Sprintf(`[{"address":%q,"enabled":true,"header":{"host":[%q]},"name":%q,"virtual_network_id":null,"weight":1}]`,
			p.Origins[0].Address, p.Origins[0].Address, region)
		if got["name"] != p.Name || got["description"] != p.Description || got["enabled"] != true ||
			got["minimum_origins"] != 1.0 || got["latitude"] != p.Latitude || got["longitude"] != p.Longitude ||
			string(origins) != wantOrigins {
			t.Errorf("planned pool %s: %v\norigins %s\nwant %+v", region, got, origins, p)
		}
	}
	lb := planned["module.lb.cloudflare_load_balancer.this"]
	for k, w := range map[string]any{"name": "rpc.example.org", "proxied": true, "steering_policy": "geo",
		"session_affinity": "none", "description": "icon-edge geo load balancer (managed)", "zone_id": "fedcba9876543210fedcba9876543210"} {
		if lb[k] != w {
			t.Errorf("planned load balancer %s = %v, want %v", k, lb[k], w)
		}
	}
	codes := []string{}
	for c := range lb["region_pools"].(map[string]any) {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	if want := []string{"EEU", "ENAM", "ME", "NAF", "NEAS", "OC", "SAS", "SEAS", "WEU", "WNAM"}; !reflect.DeepEqual(codes, want) {
		t.Errorf("planned region_pools codes %v, want %v", codes, want)
	}
}

// The stand-in must reject what the real providers reject, or the
// validation above proves nothing.
func TestStandinRejectsMistakes(t *testing.T) {
	tf := needTool(t, "terraform", "go install github.com/hashicorp/terraform@v1.5.7")
	env := standinMirror(t)
	for name, body := range map[string]string{
		"unknown argument": `resource "aws_lb_target_group" "x" {
  name = "x"
  helth_check_path = "/health"
}`,
		"missing required argument": `resource "aws_autoscaling_group" "x" {
  max_size = 1
}`,
		"wrong type": `resource "cloudflare_load_balancer_pool" "x" {
  account_id = "a"
  name       = "p"
  origins    = "not a list"
}`,
		"block where the real schema has an attribute": `resource "cloudflare_load_balancer" "x" {
  zone_id = "z"
  region_pools {
    region = "WNAM"
  }
}`,
	} {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			src := `terraform {
  required_providers {
    aws        = { source = "hashicorp/aws", version = "~> 6.0" }
    cloudflare = { source = "cloudflare/cloudflare", version = "~> 5.0" }
  }
}
` + body + "\n"
			if err := os.WriteFile(filepath.Join(d, "main.tf"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, d, env, tf, "init", "-backend=false", "-input=false", "-no-color")
			if out, err := runErr(d, env, tf, "validate", "-no-color"); err == nil {
				t.Errorf("validate accepted it:\n%s", out)
			}
		})
	}
}

// tflint with the bundled Terraform ruleset, all rules (infra/terraform/.tflint.hcl).
func TestTflint(t *testing.T) {
	tflint := needTool(t, "tflint", "go install github.com/terraform-linters/tflint@v0.61.0")
	dir := infraDir(t, "terraform")
	run(t, dir, nil, tflint, "--recursive", "--config="+filepath.Join(dir, ".tflint.hcl"), "--no-color")
}
