package infratest

import (
	"bufio"
	"debug/elf"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type instruction struct {
	line int
	op   string
	args string
}

// parseDockerfile reads instructions (continuation lines joined, comments
// and parser directives dropped).
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		op, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{start, strings.ToUpper(op), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

var knownOps = map[string]bool{"FROM": true, "RUN": true, "COPY": true, "ARG": true, "ENV": true, "WORKDIR": true,
	"USER": true, "EXPOSE": true, "ENTRYPOINT": true, "CMD": true, "LABEL": true, "HEALTHCHECK": true}

// Lint rules in the spirit of hadolint (not installable here): known
// instructions, base images pinned to a version, every runtime stage
// non-root and in exec form, COPY --from naming an earlier stage, and the
// binaries built by the same make target CI runs.
func TestDockerfileLint(t *testing.T) {
	ins := parseDockerfile(t, filepath.Join(repoRoot(t), "Dockerfile"))
	stages := map[string]bool{}
	type stage struct {
		name, base      string
		user            string
		entry           string
		copiesFromBuild bool
	}
	var all []*stage
	var cur *stage
	fromRe := regexp.MustCompile(`^(\S+)(?:\s+AS\s+(\S+))?$`)
	for _, in := range ins {
		if !knownOps[in.op] {
			t.Errorf("line %d: unknown or unexpected instruction %s", in.line, in.op)
		}
		switch in.op {
		case "FROM":
			m := fromRe.FindStringSubmatch(in.args)
			if m == nil || m[2] == "" {
				t.Errorf("line %d: every stage needs a name (FROM image AS name)", in.line)
				continue
			}
			image := m[1]
			if !strings.Contains(image, ":") || strings.HasSuffix(image, ":latest") {
				t.Errorf("line %d: base image %s must be pinned to a version", in.line, image)
			}
			cur = &stage{name: m[2], base: image}
			all = append(all, cur)
			stages[m[2]] = true
		case "USER":
			cur.user = in.args
		case "ENTRYPOINT":
			cur.entry = in.args
			if !strings.HasPrefix(in.args, "[") {
				t.Errorf("line %d: ENTRYPOINT must use the exec form", in.line)
			}
		case "COPY":
			if from, ok := strings.CutPrefix(in.args, "--from="); ok {
				name, _, _ := strings.Cut(from, " ")
				if !stages[name] {
					t.Errorf("line %d: COPY --from=%s names no earlier stage", in.line, name)
				}
				cur.copiesFromBuild = true
			}
		case "RUN":
			if strings.Contains(in.args, "apt-get install") && !strings.Contains(in.args, "--no-install-recommends") {
				t.Errorf("line %d: apt-get install without --no-install-recommends", in.line)
			}
		}
	}
	if len(all) < 3 || all[0].name != "build" {
		t.Fatalf("want a build stage and two runtime stages, got %d stages", len(all))
	}
	if !strings.Contains(dockerRun(ins), "make build-static") {
		t.Error("the build stage must run make build-static (the target CI builds)")
	}
	runtime := map[string]bool{}
	for _, s := range all[1:] {
		runtime[s.name] = true
		uid, _, _ := strings.Cut(s.user, ":")
		if s.user == "" || uid == "0" || uid == "root" {
			t.Errorf("stage %s runs as root", s.name)
		}
		if s.entry == "" || !s.copiesFromBuild {
			t.Errorf("stage %s: no ENTRYPOINT or no binary from the build stage", s.name)
		}
	}
	for _, want := range []string{"icon-edge", "icon-node-agent"} {
		if !runtime[want] {
			t.Errorf("no %s stage", want)
		}
	}
	if all[len(all)-1].name != "icon-edge" {
		t.Error("the last stage (a plain docker build) should be icon-edge")
	}
	ignore, err := os.ReadFile(filepath.Join(repoRoot(t), ".dockerignore"))
	if err != nil || !strings.Contains(string(ignore), ".git") || !strings.Contains(string(ignore), "bin") {
		t.Error(".dockerignore must keep .git and bin out of the build context")
	}
}

func dockerRun(ins []instruction) string {
	var b strings.Builder
	for _, in := range ins {
		if in.op == "RUN" {
			b.WriteString(in.args + "\n")
		}
	}
	return b.String()
}

// The build the Dockerfile runs: `make build-static` must give static
// binaries (no interpreter, no shared libraries), which the distroless and
// busybox images need.
func TestBuildStaticGivesStaticBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short")
	}
	root := repoRoot(t)
	out := t.TempDir()
	// Only the image binaries, to keep the check cheap.
	cmds := "icon-edge"
	if _, err := os.Stat(filepath.Join(root, "cmd", "icon-node-agent")); err == nil {
		cmds += " icon-node-agent"
	}
	run(t, root, nil, "make", "--no-print-directory", "build-static", "BIN="+out, "CMDS="+cmds)
	for _, name := range []string{"icon-edge", "icon-node-agent"} {
		p := filepath.Join(out, name)
		if _, err := os.Stat(p); err != nil {
			if name == "icon-node-agent" {
				t.Logf("%s not built: cmd/icon-node-agent is not in this tree yet", name)
				continue
			}
			t.Fatalf("make build-static made no %s", name)
		}
		f, err := elf.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
				t.Errorf("%s is dynamically linked", name)
			}
		}
		f.Close()
	}
}

func TestPackerValidate(t *testing.T) {
	packer := needTool(t, "packer", "apt-get install packer")
	dir := infraDir(t, "packer")
	env := []string{"CHECKPOINT_DISABLE=1", "PACKER_CACHE_DIR=" + t.TempDir(), "HOME=" + t.TempDir()}
	out := run(t, dir, env, packer, "validate", "icon-node.json")
	if strings.TrimSpace(out) != "" && !strings.Contains(out, "successfully") {
		t.Logf("%s", out)
	}
	// And it notices a broken template.
	b, _ := os.ReadFile(filepath.Join(dir, "icon-node.json"))
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte(strings.Replace(string(b), `"ssh_username"`, `"ssh_usernme"`, 1)), 0o644)
	if _, err := runErr(dir, env, packer, "validate", bad); err == nil {
		t.Error("packer validate accepted a misspelt key")
	}
	// The provisioner runs the bake playbook that exists.
	if !strings.Contains(string(b), "ansible/playbooks/bake.yml") {
		t.Error("the template does not run playbooks/bake.yml")
	}
}
