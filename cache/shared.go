package cache

// A region of several replicas shares its final answers: the local LRU stays
// the first level, and answers that can never change (Final, and AfterResult
// answers once they proved final) are also kept in a second level every
// replica reads (package redisstate, on Redis). A local miss asks the second
// level before a node. Head answers are never shared: they are only valid at
// one replica's tip.

// Shared is the second cache level.
type Shared interface {
	// GetAnswers returns the stored results for keys, nil where absent; it
	// is bounded by the store's timeout and treats errors as misses.
	GetAnswers(keys [][]byte) [][]byte
	// PutAnswer stores a final result; it must not block.
	PutAnswer(key, result []byte)
}

// SetShared adds the second level. Call it before the cache is used.
func (c *Cache) SetShared(s Shared) { c.shared = s }

// HasShared reports whether a second level is configured.
func (c *Cache) HasShared() bool { return c.shared != nil }

// sharedKind reports whether answers of kind may be looked up in the second
// level (AfterResult answers are there only once they proved final).
func sharedKind(k Kind) bool { return k == Final || k == AfterResult }

// lookupShared asks the second level for one key and keeps a hit locally.
func (c *Cache) lookupShared(key []byte, method string, tip int64) ([]byte, bool) {
	got := c.shared.GetAnswers([][]byte{key})
	if len(got) != 1 || got[0] == nil {
		return nil, false
	}
	c.put(key, method, Final, tip, got[0], false)
	c.hitShared.Inc()
	return got[0], true
}

// GetShared looks up, in one round trip, keys that missed locally; kinds[i]
// is Classify's answer for keys[i] and methods[i] its method (a nil key is
// skipped). It returns the results (nil where absent or not shareable) and
// keeps hits locally.
func (c *Cache) GetShared(keys [][]byte, methods []string, kinds []Kind, tip int64) [][]byte {
	out := make([][]byte, len(keys))
	if c.shared == nil {
		return out
	}
	var ask [][]byte
	var idx []int
	for i, k := range keys {
		if k != nil && sharedKind(kinds[i]) {
			ask, idx = append(ask, k), append(idx, i)
		}
	}
	if len(ask) == 0 {
		return out
	}
	got := c.shared.GetAnswers(ask)
	for j, res := range got {
		if j >= len(idx) || res == nil {
			continue
		}
		i := idx[j]
		out[i] = res
		c.put(keys[i], methods[i], Final, tip, res, false)
		c.hitShared.Inc()
	}
	return out
}
