package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icon-edge/icon-edge/snapshot"
	"github.com/icon-edge/icon-edge/snapshot/s3test"
	"github.com/syndtr/goleveldb/leveldb"
)

// The capture hook runs this test binary as the agent.
func TestMain(m *testing.M) {
	if os.Getenv("ICON_NODE_AGENT_TEST_AS_MAIN") == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func runAgent(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpAndUsage(t *testing.T) {
	if code, out, _ := runAgent("--help"); code != 0 || !strings.Contains(out, "ICON_NODE_AGENT_STORE") || !strings.Contains(out, "restore") {
		t.Fatalf("--help: %d %q", code, out)
	}
	for cmd, flags := range map[string][]string{
		"snapshot": {"-data", "-store", "-s3-endpoint", "-capture-cmd"},
		"restore":  {"-data", "-store", "-s3-endpoint", "-snapshot", "-dry-run"},
		"health":   {"-node", "-reference", "-listen", "-max-lag"},
		"gc":       {"-store", "-keep", "-grace"},
		"capture":  {"-data", "-out"},
	} {
		code, out, _ := runAgent(cmd, "--help")
		if code != 0 {
			t.Errorf("%s --help: exit %d", cmd, code)
		}
		for _, f := range flags {
			if !strings.Contains(out, f) {
				t.Errorf("%s --help lacks %s:\n%s", cmd, f, out)
			}
		}
	}
	for _, args := range [][]string{
		{}, {"nope"}, {"restore", "--bogus"}, {"restore", "--data", "/x"}, {"gc", "--store", "s3://b/p"},
		{"snapshot", "--store", "http://not-s3", "--data", "."}, {"restore", "--data", "/x", "--store", "s3://b", "--range-size", "3MiB"},
		{"health", "--reference", "ftp://x"},
	} {
		if code, _, _ := runAgent(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// The whole tool as an operator runs it: snapshot through a capture hook
// (as with goloop chain backup --manual), restore, dry run, gc.
func TestSnapshotRestoreGCCommands(t *testing.T) {
	srv, err := s3test.New(s3test.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_REGION": "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_CA_BUNDLE": ca, "ICON_NODE_AGENT_STORE": "s3://" + srv.Bucket + "/mainnet", "ICON_NODE_AGENT_S3_ENDPOINT": srv.URL} {
		t.Setenv(k, v)
	}
	src := t.TempDir()
	db, err := leveldb.OpenFile(filepath.Join(src, "1", "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		db.Put([]byte{byte(i), byte(i >> 8)}, bytes.Repeat([]byte{byte(i)}, 500), nil)
	}
	os.WriteFile(filepath.Join(src, "1", "config.json"), []byte(`{"nid":1,"db_type":"goleveldb"}`), 0o644)
	os.WriteFile(filepath.Join(src, "keystore.json"), []byte("secret"), 0o600)

	// The database is open: a direct snapshot must refuse.
	if code, _, _ := runAgent("snapshot", "--data", src); code != 1 {
		t.Fatalf("snapshot of an open database: exit %d", code)
	}
	db.Close()
	hook := `ICON_NODE_AGENT_TEST_AS_MAIN=1 "$ICON_NODE_AGENT_BIN" capture --data "$ICON_NODE_AGENT_DATA" --out "$ICON_NODE_AGENT_CAPTURE" >&2 && ` +
		`echo '{"height":4242,"goloop_version":"v1.4.0"}' > "$ICON_NODE_AGENT_META"`
	code, out, errs := runAgent("snapshot", "--data", src, "--capture-cmd", hook)
	if code != 0 || !strings.Contains(out, "height 4242") {
		t.Fatalf("snapshot: %d %s %s", code, out, errs)
	}
	st, _ := snapshot.ReadStatus(src, "snapshot")
	if st == nil || st.State != snapshot.StateDone {
		t.Fatalf("snapshot status %+v", st)
	}

	dst := filepath.Join(t.TempDir(), "node")
	code, out, errs = runAgent("restore", "--data", dst, "--dry-run")
	if code != 0 || !strings.Contains(out, "height 4242") || !strings.Contains(out, "1/db/CURRENT") {
		t.Fatalf("dry run: %d %s %s", code, out, errs)
	}
	code, out, errs = runAgent("restore", "--data", dst, "--range-size", "1MiB", "--concurrency", "4")
	if code != 0 || !strings.Contains(out, "restored snapshot") {
		t.Fatalf("restore: %d %s %s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dst, "keystore.json")); err == nil {
		t.Fatal("the keystore travelled")
	}
	db2, err := leveldb.OpenFile(filepath.Join(dst, "1", "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := db2.Get([]byte{7, 0}, nil); err != nil || len(v) != 500 {
		t.Fatalf("restored DB: %v", err)
	}
	db2.Close()

	if code, out, errs = runAgent("gc", "--keep", "1"); code != 0 || !strings.Contains(out, "kept 1 snapshots") {
		t.Fatalf("gc: %d %s %s", code, out, errs)
	}
}
