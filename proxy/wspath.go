package proxy

import "bytes"

// isWebSocketPath reports whether a request path as the client sent it names
// one of goloop's websocket resources: /api/v3/{channel}/block or /event, the
// channel possibly empty (/api/v3//block), a trailing slash allowed. The
// normalized path cannot tell /api/v3//block (a websocket path) from
// /api/v3/block, which has no channel segment and is 404 on goloop, upgrade
// or not.
func isWebSocketPath(orig []byte) bool {
	rest, ok := bytes.CutPrefix(orig, []byte("/api/v3/"))
	if !ok {
		return false
	}
	rest = bytes.TrimSuffix(rest, []byte("/"))
	channel, kind, ok := bytes.Cut(rest, []byte("/"))
	return ok && bytes.IndexByte(channel, '/') < 0 && (string(kind) == "block" || string(kind) == "event")
}
