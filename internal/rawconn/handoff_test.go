package rawconn

import (
	"io"
	"net"
	"testing"
)

// Package syscall's Read and Write tell the race detector that a write on a
// socket happens before the read that sees its bytes. Raw system calls skip
// that, so under -race rawconn uses package syscall (sys_race.go): without
// it, state handed over through the socket (a handler sets a counter, then
// answers; the test reads the counter after the answer) is reported as a
// data race in "raw" and not in "plain", the control. Only the race
// detector can fail it (make test runs it with -race).
func TestRaceDetectorSeesTheSocketHandOff(t *testing.T) {
	if !raceEnabled {
		t.Skip("needs -race: only the race detector can see a missed hand-off")
	}
	for _, mode := range []string{"plain", "raw"} {
		t.Run(mode, func(t *testing.T) {
			c, peer := pair(t)
			var w net.Conn = c
			if mode == "plain" {
				w = c.Conn
			}
			var x int
			go func() {
				x = 1 // e.g. a handler updating a counter before answering
				_, _ = w.Write([]byte("a"))
			}()
			if _, err := io.ReadFull(peer, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			_ = x // the test reads the counter after the answer
		})
	}
}
