package infratest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// Real applies, Terratest-style, for someone with accounts: skipped unless
// ICON_INFRA_APPLY=1 and the provider credentials are in the environment.
// They use the real providers from the registry (terraform's normal CLI
// configuration), create a few cheap objects, check them and destroy them.

func needApply(t *testing.T, vars ...string) string {
	t.Helper()
	if os.Getenv("ICON_INFRA_APPLY") != "1" {
		t.Skip("SKIP: real apply against AWS/Cloudflare; set ICON_INFRA_APPLY=1 and credentials to run")
	}
	for _, v := range vars {
		if os.Getenv(v) == "" {
			t.Skipf("SKIP: %s is not set", v)
		}
	}
	return needTool(t, "terraform", "go install github.com/hashicorp/terraform@v1.5.7")
}

func applyAndDestroy(t *testing.T, tf, dir string, args ...string) map[string]json.RawMessage {
	t.Helper()
	run(t, dir, nil, tf, "init", "-input=false", "-no-color")
	t.Cleanup(func() {
		if out, err := runErr(dir, nil, tf, append([]string{"destroy", "-auto-approve", "-input=false", "-no-color"}, args...)...); err != nil {
			t.Errorf("destroy failed, clean up by hand in %s: %v\n%s", dir, err, out)
		}
	})
	run(t, dir, nil, tf, append([]string{"apply", "-auto-approve", "-input=false", "-no-color"}, args...)...)
	var outputs map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(run(t, dir, nil, tf, "output", "-json")), &outputs); err != nil {
		t.Fatal(err)
	}
	values := map[string]json.RawMessage{}
	for k, v := range outputs {
		values[k] = v.Value
	}
	return values
}

func TestApplyCloudflareLB(t *testing.T) {
	tf := needApply(t, "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_ZONE_ID")
	work := t.TempDir()
	copyTree(t, infraDir(t, "terraform"), work)
	out := applyAndDestroy(t, tf, filepath.Join(work, "examples", "cloudflare-lb"),
		"-var", "account_id="+os.Getenv("CLOUDFLARE_ACCOUNT_ID"), "-var", "zone_id="+os.Getenv("CLOUDFLARE_ZONE_ID"))
	var names struct {
		RegionPools map[string][]string `json:"region_pools"`
	}
	if err := json.Unmarshal(out["names"], &names); err != nil {
		t.Fatal(err)
	}
	if want := contract(exampleInput(t)).LoadBalancer.RegionPools; !reflect.DeepEqual(names.RegionPools, want) {
		t.Errorf("applied region_pools %v, want %v", names.RegionPools, want)
	}
}

func TestApplySnapshotBucket(t *testing.T) {
	tf := needApply(t, "AWS_REGION")
	dir := t.TempDir()
	module := infraDir(t, "terraform", "modules", "icon-snapshot-bucket")
	name := fmt.Sprintf("icon-edge-test-%d", time.Now().UnixNano()%1e9)
	src := fmt.Sprintf(`module "bucket" {
  source        = %q
  name          = %q
  force_destroy = true
}
output "store_url" {
  value = module.bucket.store_url
}
`, module, name)
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := applyAndDestroy(t, tf, dir)
	if got, want := string(out["store_url"]), fmt.Sprintf("%q", "s3://"+name+"/mainnet"); got != want {
		t.Errorf("store_url %s, want %s", got, want)
	}
}
