// Package version names the build every binary reports (--version, metrics,
// /region.json). The Makefile stamps it with -ldflags.
package version

// Version is stamped at build time: -ldflags "-X github.com/icon-edge/icon-edge/version.Version=...".
var Version = "dev"
