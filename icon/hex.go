package icon

// goloop validates parameters strictly: lowercase hex, no leading zeros, a
// 0x prefix. These checks mirror its t_int, t_hash and t_addr validators so
// the edge can read a height without accepting what a node would reject.

// ParseHexInt parses a goloop t_int ("0x0", "0x1a", optionally negative).
// ok is false for anything goloop would reject or that overflows int64.
func ParseHexInt(s string) (v int64, ok bool) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) < 3 || s[0] != '0' || s[1] != 'x' {
		return 0, false
	}
	digits := s[2:]
	if len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	if len(digits) > 15 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		default:
			return 0, false
		}
		v = v<<4 | int64(d)
	}
	if neg {
		v = -v
	}
	return v, true
}

// FormatHexInt formats v as goloop writes integers ("0x0", "0x1a", "-0x5").
func FormatHexInt(v int64) string { return string(AppendHexInt(nil, v)) }

// AppendHexInt appends v in goloop's hex integer form.
func AppendHexInt(dst []byte, v int64) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	dst = append(dst, '0', 'x')
	if v == 0 {
		return append(dst, '0')
	}
	var buf [16]byte
	i := len(buf)
	for v > 0 {
		i--
		buf[i] = "0123456789abcdef"[v&0xf]
		v >>= 4
	}
	return append(dst, buf[i:]...)
}

// IsHash reports whether s is a goloop t_hash: "0x" and 64 lowercase hex digits.
func IsHash(s string) bool {
	return len(s) == 66 && s[0] == '0' && s[1] == 'x' && isLowerHex(s[2:])
}

// IsAddress reports whether s is a goloop t_addr: "hx" or "cx" and 40 lowercase hex digits.
func IsAddress(s string) bool {
	return len(s) == 42 && (s[:2] == "hx" || s[:2] == "cx") && isLowerHex(s[2:])
}

// IsEOA reports whether s is an externally owned account address (hx...).
func IsEOA(s string) bool { return IsAddress(s) && s[0] == 'h' }

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
