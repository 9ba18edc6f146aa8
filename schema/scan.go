package schema

// A small scanner over JSON. validValue checks that a value is JSON and
// finds its end; scanObject and scanArray then walk the members and
// elements of a value already found valid, without allocating, so checking
// an event's keys and types and filling its struct cost little more than
// reading it.

// scanObject calls fn with each member of the object raw (key still in its
// JSON form, quotes included; value raw). fn returns false to stop.
func scanObject(raw []byte, fn func(rawKey, val []byte) bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(raw, i)
		if i >= len(raw) || raw[i] == '}' {
			return
		}
		kEnd := stringEnd(raw, i)
		rawKey := raw[i:kEnd]
		i = skipSpace(raw, kEnd)
		i = skipSpace(raw, i+1) // the ':'
		vEnd := valueEnd(raw, i)
		if !fn(rawKey, raw[i:vEnd]) {
			return
		}
		i = skipSpace(raw, vEnd)
		if i < len(raw) && raw[i] == ',' {
			i++
		}
	}
}

// scanArray calls fn with each element of the array raw.
func scanArray(raw []byte, fn func(i int, val []byte)) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return
	}
	i++
	for n := 0; ; n++ {
		i = skipSpace(raw, i)
		if i >= len(raw) || raw[i] == ']' {
			return
		}
		end := valueEnd(raw, i)
		fn(n, raw[i:end])
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i++
		}
	}
}

// stringEnd returns the index after the closing quote of the string at i.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the index after the value starting at i.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default:
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return j
			}
			j++
		}
		return j
	}
}

// maxDepth bounds the nesting validValue accepts. encoding/json allows
// 10,000; a deeper value is not rejected here but handed to json.Decoder,
// which says what is wrong with it (or reads it), so stricter is safe.
const maxDepth = 64

// validValue checks that b[i:] starts with one JSON value, exactly as
// encoding/json's grammar has it (any byte from 0x20 up inside strings,
// invalid UTF-8 included), and returns the index after it. Like
// json.Decoder, it stops at the end of the value: what follows is the next
// value's business. ok is false for anything it does not accept; the caller
// then asks json.Decoder, for the error and its position.
func validValue(b []byte, i int) (end int, ok bool) {
	// Objects and arrays are walked with an explicit stack of their kinds.
	var stack [maxDepth]byte
	depth := 0
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, false
		}
		// One value starts at i.
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == maxDepth {
				return 0, false
			}
			stack[depth] = c
			depth++
			i = skipSpace(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				depth--
				i++
				break // an empty object or array is a whole value
			}
			if c == '{' {
				if i = objectKey(b, i); i < 0 {
					return 0, false
				}
			}
			continue
		case c == '"':
			if i = stringToken(b, i); i < 0 {
				return 0, false
			}
		case c == '-' || '0' <= c && c <= '9':
			if i = numberToken(b, i); i < 0 {
				return 0, false
			}
		case c == 't':
			if i = literal(b, i, "true"); i < 0 {
				return 0, false
			}
		case c == 'f':
			if i = literal(b, i, "false"); i < 0 {
				return 0, false
			}
		case c == 'n':
			if i = literal(b, i, "null"); i < 0 {
				return 0, false
			}
		default:
			return 0, false
		}
		// A value ended at i: close containers, or go on to the next member.
		for {
			if depth == 0 {
				return i, true
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, false
			}
			open := stack[depth-1]
			if b[i] == ',' {
				i++
				if open == '{' {
					if i = objectKey(b, skipSpace(b, i)); i < 0 {
						return 0, false
					}
				}
				break
			}
			if open == '{' && b[i] == '}' || open == '[' && b[i] == ']' {
				depth--
				i++
				continue
			}
			return 0, false
		}
	}
}

// objectKey reads `"key" :` at i and returns the index after the colon.
func objectKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = stringToken(b, i); i < 0 {
		return -1
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return i + 1
}

// stringToken checks the string at b[i] == '"' and returns the index after it.
func stringToken(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1
		case c < 0x20:
			return -1
		case c == '\\':
			j++
			if j >= len(b) {
				return -1
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) {
					return -1
				}
				for _, h := range b[j+1 : j+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1
					}
				}
				j += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// numberToken checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at i.
func numberToken(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	digits := func(i int) int {
		j := i
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if i = digits(i + 1); i < 0 {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i = digits(i); i < 0 {
			return -1
		}
	}
	return i
}

// literal checks that b[i:] starts with word.
func literal(b []byte, i int, word string) int {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return -1
	}
	return i + len(word)
}
