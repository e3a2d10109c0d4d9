package snapshot

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The journal lets an interrupted restore resume: a header naming the
// snapshot (and the manifest's hash, so a rewritten manifest is not mixed
// up), then one line per part whose bytes are verified and on disk (written
// only after a filesystem sync), and "commit" once every part is in place.
// A torn last line is ignored.

const journalMagic = "icon-node-agent restore journal v1"

type partID struct{ file, part int }

type journal struct {
	f *os.File
}

type journalState struct {
	id, manifestHash string
	done             map[partID]bool
	commit           bool
}

func readJournal(path string) (*journalState, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 1<<20)
	if !sc.Scan() {
		return nil, fmt.Errorf("journal %s: empty", path)
	}
	h := strings.Fields(strings.TrimPrefix(sc.Text(), journalMagic))
	if !strings.HasPrefix(sc.Text(), journalMagic) || len(h) != 2 {
		return nil, fmt.Errorf("journal %s: bad header", path)
	}
	js := &journalState{id: h[0], manifestHash: h[1], done: map[partID]bool{}}
	for sc.Scan() {
		line := sc.Text()
		if line == "commit" {
			js.commit = true
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 3 || fs[0] != "p" {
			continue // torn write
		}
		fi, err1 := strconv.Atoi(fs[1])
		pi, err2 := strconv.Atoi(fs[2])
		if err1 == nil && err2 == nil {
			js.done[partID{fi, pi}] = true
		}
	}
	return js, sc.Err()
}

func createJournal(path, id, manifestHash string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(f, "%s %s %s\n", journalMagic, id, manifestHash); err != nil {
		f.Close()
		return nil, err
	}
	return &journal{f: f}, f.Sync()
}

func appendJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	// A torn line from a crash must not glue onto the next record.
	if _, err := f.WriteString("\n"); err != nil {
		f.Close()
		return nil, err
	}
	return &journal{f: f}, nil
}

// record appends parts (already synced to disk) and syncs the journal.
func (j *journal) record(parts []partID) error {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "p %d %d\n", p.file, p.part)
	}
	if _, err := j.f.WriteString(b.String()); err != nil {
		return err
	}
	return j.f.Sync()
}

func (j *journal) commit() error {
	if _, err := j.f.WriteString("commit\n"); err != nil {
		return err
	}
	return j.f.Sync()
}

func (j *journal) Close() error { return j.f.Close() }
