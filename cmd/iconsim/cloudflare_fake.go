package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/icon-edge/icon-edge/routing/cloudflare/cffake"
)

// runCloudflareFake is `iconsim cloudflare-fake`: a local Cloudflare API for
// `icon-edge cloudflare` (the geo demo, trying a configuration). It prints
// the base URL to stdout, one line per setting, then serves until a signal.
func runCloudflareFake(args []string, stdout io.Writer, stop <-chan os.Signal) error {
	fs := flag.NewFlagSet("iconsim cloudflare-fake", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on (port 0: a free port)")
	token := fs.String("token", cffake.DefaultToken, "the API token it accepts (CLOUDFLARE_API_TOKEN)")
	account := fs.String("account-id", cffake.DefaultAccountID, "account id (cloudflare.account_id)")
	zone := fs.String("zone-id", cffake.DefaultZoneID, "zone id (cloudflare.zone_id)")
	zoneName := fs.String("zone-name", cffake.DefaultZoneName, "zone name; the load balancer's hostname must be in it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fake := cffake.New(cffake.Options{Token: *token, AccountID: *account, ZoneID: *zone, ZoneName: *zoneName})
	if err := fake.Start(*listen); err != nil {
		return err
	}
	defer fake.Close()
	fmt.Fprintf(stdout, "cloudflare-fake: %s\nCLOUDFLARE_BASE_URL=%s\nCLOUDFLARE_API_TOKEN=%s\naccount_id: %s\nzone_id: %s\nzone: %s\n",
		fake.URL(), fake.URL(), *token, *account, *zone, *zoneName)
	if stop == nil {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		stop = sig
	}
	<-stop
	return nil
}
