//go:build !race

package rawconn

// raceEnabled says whether the race detector runs: the hand-off test means
// something only with it.
const raceEnabled = false
