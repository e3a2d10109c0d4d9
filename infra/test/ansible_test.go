package infratest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func ansibleEnv(t *testing.T) []string {
	dir := infraDir(t, "ansible")
	return []string{
		"ANSIBLE_CONFIG=" + filepath.Join(dir, "ansible.cfg"),
		"ANSIBLE_ROLES_PATH=" + filepath.Join(dir, "roles"),
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0",
		"ANSIBLE_LOCAL_TEMP=" + t.TempDir(), "ANSIBLE_REMOTE_TEMP=" + t.TempDir(),
	}
}

func TestAnsibleLint(t *testing.T) {
	lint := needTool(t, "ansible-lint", "apt-get install ansible-lint")
	dir := infraDir(t, "ansible")
	env := append(ansibleEnv(t), "ANSIBLE_LINT_NODEPS=0", "HOME="+t.TempDir())
	out := run(t, dir, env, lint, "--nocolor")
	t.Logf("%s", lastLine(out))
}

func TestAnsibleSyntax(t *testing.T) {
	ap := needTool(t, "ansible-playbook", "apt-get install ansible-core")
	dir := infraDir(t, "ansible")
	books, _ := filepath.Glob(filepath.Join(dir, "playbooks", "*.yml"))
	if len(books) < 5 {
		t.Fatalf("playbooks: %v", books)
	}
	for _, b := range books {
		run(t, dir, ansibleEnv(t), ap, "--syntax-check", "-i", "inventories/three-regions.example.yml", b)
	}
}

var recap = regexp.MustCompile(`localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// A real run of the edge and agent roles against localhost, into a scratch
// root: the unit files and configs they leave must satisfy systemd-analyze
// and the real icon-edge binary; a second run changes nothing.
func TestAnsibleRolesLocalRun(t *testing.T) {
	ap := needTool(t, "ansible-playbook", "apt-get install ansible-core")
	root := t.TempDir()
	bin := t.TempDir()
	edgeBin := filepath.Join(bin, "icon-edge")
	agentBin := filepath.Join(bin, "icon-node-agent")
	// The same build as the images (and TestBuildStaticGivesStaticBinaries,
	// so the two share Go's build cache).
	cmds := "icon-edge"
	if _, err := os.Stat(filepath.Join(repoRoot(t), "cmd", "icon-node-agent")); err == nil {
		cmds += " icon-node-agent"
	}
	run(t, repoRoot(t), nil, "make", "--no-print-directory", "build-static", "BIN="+bin, "CMDS="+cmds)
	if !strings.Contains(cmds, "icon-node-agent") {
		t.Log("cmd/icon-node-agent not in this tree yet: installing a placeholder executable for the agent role")
		if err := os.WriteFile(agentBin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port, upstreamPort := freePort(t), freePort(t)
	book := filepath.Join(t.TempDir(), "scratch.yml")
	err := os.WriteFile(book, []byte(fmt.Sprintf(`---
- name: Edge and agent roles into a scratch root
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    icon_edge_root: %[1]q
    icon_edge_manage_user: false
    icon_edge_manage_service: false
    icon_edge_manage_packages: false
    icon_edge_user: root
    icon_edge_group: root
    icon_edge_binary_src: %[2]q
    icon_edge_listen: 127.0.0.1:%[4]d
    icon_edge_region: eu
    icon_edge_upstreams: ["http://127.0.0.1:%[5]d", "dns+http://localhost:%[5]d"]
    icon_edge_trusted_proxies: ["173.245.48.0/20", "2400:cb00::/32"]
    icon_edge_access_log_file: %[1]q
    icon_edge_fluentbit: true
    icon_edge_fluentbit_es_host: es.internal
    icon_node_agent_root: %[1]q
    icon_node_agent_manage_service: false
    icon_node_agent_binary_src: %[3]q
    icon_node_agent_references: [https://ctz.solidwallet.io/api/v3, https://api.icon.community/api/v3]
    icon_node_agent_store: s3://icon-snapshots/mainnet
    icon_node_agent_snapshot_enabled: true
  roles:
    - icon_edge
    - icon_node_agent
`, root, edgeBin, agentBin, port, upstreamPort)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// The access log is a file in the scratch root, not the host's /var/log.
	_ = os.MkdirAll(filepath.Join(root, "var", "log", "icon-edge"), 0o755)
	patch := strings.NewReplacer(fmt.Sprintf("icon_edge_access_log_file: %q", root),
		fmt.Sprintf("icon_edge_access_log_file: %q", filepath.Join(root, "var", "log", "icon-edge", "access.jsonl")))
	b, _ := os.ReadFile(book)
	_ = os.WriteFile(book, []byte(patch.Replace(string(b))), 0o644)

	env := ansibleEnv(t)
	for i, wantChanged := range []int{-1, 0} {
		out := run(t, t.TempDir(), env, ap, "-i", "localhost,", book)
		m := recap.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("run %d: no recap\n%s", i+1, out)
		}
		t.Logf("run %d: ok=%s changed=%s failed=%s", i+1, m[1], m[2], m[4])
		if m[4] != "0" || m[3] != "0" {
			t.Fatalf("run %d failed\n%s", i+1, out)
		}
		if wantChanged == 0 && m[2] != "0" {
			t.Errorf("second run changed %s tasks: not idempotent\n%s", m[2], out)
		}
		if wantChanged < 0 && m[2] == "0" {
			t.Errorf("first run changed nothing")
		}
	}

	for _, f := range []string{
		"usr/local/bin/icon-edge", "etc/icon-edge/edge.yaml", "etc/icon-edge/edge.env",
		"etc/systemd/system/icon-edge.service", "etc/fluent-bit/conf.d/icon-edge.conf",
		"usr/local/bin/icon-node-agent", "etc/icon-node-agent/agent.env",
		"etc/systemd/system/icon-node-agent.service", "etc/systemd/system/icon-node-restore.service",
		"etc/systemd/system/icon-node-snapshot.service", "etc/systemd/system/icon-node-snapshot.timer",
	} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("role left no %s", f)
		}
	}
	env2, _ := os.ReadFile(filepath.Join(root, "etc/icon-node-agent/agent.env"))
	for _, want := range []string{
		`ICON_AGENT_HEALTH_ARGS="--node http://127.0.0.1:9000 --reference https://ctz.solidwallet.io/api/v3 --reference https://api.icon.community/api/v3 --listen 127.0.0.1:9100"`,
		`ICON_AGENT_STORE_ARGS="--data /data/icon --store s3://icon-snapshots/mainnet"`,
	} {
		if !strings.Contains(string(env2), want) {
			t.Errorf("agent.env lacks %s:\n%s", want, env2)
		}
	}

	// systemd's own checker, resolving ExecStart inside the scratch root.
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		// verify --root needs the system's own units (sysinit.target, ...)
		// and the commands the units run inside that root.
		_ = os.MkdirAll(filepath.Join(root, "usr", "lib", "systemd"), 0o755)
		_ = os.MkdirAll(filepath.Join(root, "bin"), 0o755)
		run(t, root, nil, "cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr", "lib", "systemd")+"/")
		run(t, root, nil, "cp", "/usr/bin/kill", filepath.Join(root, "bin", "kill"))
		for _, u := range []string{"icon-edge.service", "icon-node-agent.service", "icon-node-restore.service",
			"icon-node-snapshot.service", "icon-node-snapshot.timer"} {
			out, err := runErr(root, nil, sa, "verify", "--root="+root, "--man=no", "/etc/systemd/system/"+u)
			// It exits 0 on unknown keys and bad values, but says so.
			if err != nil || strings.TrimSpace(out) != "" {
				t.Errorf("systemd-analyze verify %s: %v\n%s", u, err, out)
			}
		}
	} else {
		t.Log("SKIP part: systemd-analyze not installed; unit files not verified by systemd")
	}

	// The rendered edge.yaml starts the real edge (unknown keys or bad
	// values would stop it with exit code 2).
	cmd := exec.Command(filepath.Join(root, "usr/local/bin/icon-edge"), "--config", filepath.Join(root, "etc/icon-edge/edge.yaml"))
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("icon-edge exited with the role's config: %v\n%s", err, logs)
		default:
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("icon-edge never answered /healthz on the role's listen address\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
