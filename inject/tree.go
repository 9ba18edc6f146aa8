package inject

import "fmt"

// Helpers over the generic decoded JSON tree (map[string]any, []any,
// json.Number, string, bool). Decoding into k8s.io/api types would drop fields
// the types do not know and add empty ones ("resources: {}"), so the transform
// works on the tree and leaves everything it does not own alone.

// obj returns m[key] as an object; nil when absent.
func obj(m map[string]any, key, where string) (map[string]any, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s.%s: want an object, got %s", where, key, typeName(v))
	}
	return o, nil
}

// ensureObj returns m[key] as an object, creating it when absent.
func ensureObj(m map[string]any, key, where string) (map[string]any, error) {
	o, err := obj(m, key, where)
	if err != nil || o != nil {
		return o, err
	}
	o = map[string]any{}
	m[key] = o
	return o, nil
}

// list returns m[key] as a list of objects; nil when absent.
func list(m map[string]any, key, where string) ([]map[string]any, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s.%s: want a list, got %s", where, key, typeName(v))
	}
	out := make([]map[string]any, 0, len(items))
	for i, it := range items {
		o, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s.%s[%d]: want an object, got %s", where, key, i, typeName(it))
		}
		out = append(out, o)
	}
	return out, nil
}

// setList stores objects back as []any.
func setList(m map[string]any, key string, items []map[string]any) {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it
	}
	m[key] = out
}

// strings returns m[key] as a list of strings; nil when absent.
func stringList(m map[string]any, key, where string) ([]string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s.%s: want a list of strings, got %s", where, key, typeName(v))
	}
	out := make([]string, len(items))
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("%s.%s[%d]: want a string, got %s", where, key, i, typeName(it))
		}
		out[i] = s
	}
	return out, nil
}

func anyStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// findNamed returns the index of the object whose name field equals name.
func findNamed(items []map[string]any, field, name string) int {
	for i, it := range items {
		if str(it, field) == name {
			return i
		}
	}
	return -1
}

func typeName(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	default:
		return "a number"
	}
}
