package cache

import (
	"encoding/binary"
)

// Answer is an upstream answer without its id, so coalesced waiters can each
// wrap it with their own. Exactly one of Result (raw JSON of "result") and
// Error (raw JSON of the "error" object) is set. Status is whatever HTTP
// status the caller wants to reuse. Shared between waiters: read-only.
type Answer struct {
	Result []byte
	Error  []byte
	Status int
}

// AppendTo appends a complete JSON-RPC response carrying this answer and
// the client's raw id ("null" when empty).
func (a *Answer) AppendTo(dst, id []byte) []byte {
	dst = append(dst, `{"jsonrpc":"2.0",`...)
	if a.Error != nil {
		dst = append(dst, `"error":`...)
		dst = append(dst, a.Error...)
	} else {
		dst = append(dst, `"result":`...)
		if len(a.Result) == 0 {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, a.Result...)
		}
	}
	dst = append(dst, `,"id":`...)
	if len(id) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, id...)
	}
	return append(dst, '}')
}

// Do runs fn once for all identical concurrent calls (same key, same tip)
// and gives every caller its answer; shared reports that the answer was
// (also) given to another caller. Before calling fn, the leader looks in the
// cache once more, so a caller that just missed a flight which has since
// stored its answer does not go upstream again, and then in the second
// level, if any (shared.go), for answers that may be there. After fn, a successful
// answer (Result set, no Error, nil err) is stored with Put(key, method,
// kind, tip, ...); errors never are.
//
// kind and tip are what Classify returned and was given for this request;
// With NoCache, fn is simply called: coalescing writes would drop them.
// fn is the upstream call; it must return slices it will not reuse (they go
// to every waiter). fn runs on the first caller's goroutine: give it a
// deadline that does not depend on that one client staying connected.
//
// The tip is part of a flight's identity so that a caller who knows a newer
// tip never receives an answer fetched for an older one.
func (c *Cache) Do(key []byte, method string, kind Kind, tip int64, fn func() (Answer, error)) (a Answer, shared bool, err error) {
	if fn == nil {
		return Answer{}, false, errNilFn
	}
	if kind == NoCache {
		a, err = fn()
		return a, false, err
	}
	fk := make([]byte, 0, len(key)+8)
	fk = binary.BigEndian.AppendUint64(fk, uint64(tip))
	fk = append(fk, key...)
	led := false
	v, err, shared := c.flights.Do(string(fk), func() (any, error) {
		led = true
		if r, k, ok := c.lookup(key, tip); ok {
			if k == Head {
				c.hitHead.Inc()
			} else {
				c.hitFinal.Inc()
			}
			return Answer{Result: r, Status: 200}, nil
		}
		if c.shared != nil && sharedKind(kind) {
			if r, ok := c.lookupShared(key, method, tip); ok {
				return Answer{Result: r, Status: 200}, nil
			}
		}
		a, err := fn()
		if err == nil && a.Error == nil && a.Result != nil {
			c.Put(key, method, kind, tip, a.Result)
		}
		return a, err
	})
	if shared && !led {
		c.coalesced.Inc()
	}
	if v != nil {
		a = v.(Answer)
	}
	return a, shared, err
}
