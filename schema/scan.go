package schema

import "encoding/json"

// A small scanner over JSON that json.Decoder has already found to be one
// syntactically valid value. It walks object members and array elements
// without allocating, so checking an event's keys and types costs no more
// than reading it; only the protobuf struct fill uses encoding/json.

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

// keyString unquotes a raw JSON key; plain keys need no decoding.
func keyString(rawKey []byte) string {
	if len(rawKey) >= 2 {
		plain := true
		for _, c := range rawKey[1 : len(rawKey)-1] {
			if c == '\\' {
				plain = false
				break
			}
		}
		if plain {
			return string(rawKey[1 : len(rawKey)-1])
		}
	}
	var s string
	_ = json.Unmarshal(rawKey, &s)
	return s
}
