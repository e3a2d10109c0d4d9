package capture

import "unsafe"

// unsafeString views b as a string for read-only use within one call.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
