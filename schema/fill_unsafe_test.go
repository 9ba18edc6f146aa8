package schema

import "unsafe"

// distance is how far b's bytes start after a's.
func distance(a, b string) int {
	return int(uintptr(unsafe.Pointer(unsafe.StringData(b))) - uintptr(unsafe.Pointer(unsafe.StringData(a))))
}
