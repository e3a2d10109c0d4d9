// Package rawjson cuts JSON that a parser has already accepted into the
// exact bytes of its members and elements. The edge relays what clients and
// nodes sent rather than a re-encoding of it: a re-encoder may escape exotic
// strings differently from Go's encoding/json (which nodes use), and
// copying bytes is cheaper anyway.
package rawjson

// SkipSpace returns the first index at or after i that is not JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// ValueEnd returns the index just past the JSON value starting at i.
func ValueEnd(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = StringEnd(b, i) - 1
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 { // closes the enclosing container: a scalar ended
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

// StringEnd returns the index just past the string whose quote is at i.
func StringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// Elements returns the raw bytes of each element of a JSON array; nil when
// b is not an array.
func Elements(b []byte) [][]byte {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil
	}
	var out [][]byte
	i++
	for {
		i = SkipSpace(b, i)
		if i >= len(b) || b[i] == ']' {
			return out
		}
		end := ValueEnd(b, i)
		out = append(out, b[i:end])
		i = SkipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
}

// Member is one member of an object: its key with the quotes, and its value.
type Member struct{ Key, Val []byte }

// next reads the member starting at i (after '{' or ','); ok is false at the
// end of the object or on anything that is not a member.
func next(b []byte, i int) (m Member, after int, ok bool) {
	i = SkipSpace(b, i)
	if i >= len(b) || b[i] != '"' {
		return m, i, false
	}
	k := StringEnd(b, i)
	m.Key = b[i:k]
	i = SkipSpace(b, k)
	if i >= len(b) || b[i] != ':' {
		return m, i, false
	}
	i = SkipSpace(b, i+1)
	v := ValueEnd(b, i)
	m.Val = b[i:v]
	return m, v, true
}

// Members calls fn for each top-level member of a JSON object, in order,
// until fn returns false. It does nothing when b is not an object.
func Members(b []byte, fn func(m Member) bool) {
	i := SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	for i++; ; i++ {
		m, after, ok := next(b, i)
		if !ok || !fn(m) {
			return
		}
		if i = SkipSpace(b, after); i >= len(b) || b[i] != ',' {
			return
		}
	}
}

// Get returns the raw value of a top-level member of a JSON object, nil
// when absent. It does not allocate (it is on the answer path).
func Get(obj []byte, name string) []byte {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil
	}
	for i++; ; i++ {
		m, after, ok := next(obj, i)
		if !ok {
			return nil
		}
		if len(m.Key) >= 2 && string(m.Key[1:len(m.Key)-1]) == name {
			return m.Val
		}
		if i = SkipSpace(obj, after); i >= len(obj) || obj[i] != ',' {
			return nil
		}
	}
}
