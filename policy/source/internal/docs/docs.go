// Package docs splits YAML/JSON payloads into documents and reads the few
// metadata fields the sources need (name, kind) without knowing the policy
// schema: parsing and validation belong to the engine (policy.Parse).
package docs

import (
	"bytes"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// Doc is one non-empty document of a multi-document payload.
type Doc struct {
	// Index counts documents from 1 in the payload, empty ones included.
	Index int
	// Data is the document as JSON.
	Data []byte
	Kind string
	Name string
}

type header struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// Split cuts data at YAML document separators (lines starting with "---")
// and converts each non-empty document to JSON. A JSON payload is one YAML
// document. A JSON array of objects or a v1 List ({"items": [...]}) is
// expanded into its elements.
func Split(data []byte) ([]Doc, error) {
	var out []Doc
	for i, raw := range splitYAML(data) {
		if isBlank(raw) {
			continue
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		js = bytes.TrimSpace(js)
		if bytes.Equal(js, []byte("null")) {
			continue
		}
		items, err := expand(js)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		for _, it := range items {
			var h header
			if err := yaml.Unmarshal(it, &h); err != nil {
				return nil, fmt.Errorf("document %d: %w", i+1, err)
			}
			out = append(out, Doc{Index: i + 1, Data: it, Kind: h.Kind, Name: h.Metadata.Name})
		}
	}
	return out, nil
}

// expand turns a JSON array or a List object into its items; anything else is
// returned as the only item.
func expand(js []byte) ([][]byte, error) {
	if len(js) > 0 && js[0] == '[' {
		var arr []yamlRaw
		if err := yaml.Unmarshal(js, &arr); err != nil {
			return nil, err
		}
		out := make([][]byte, 0, len(arr))
		for _, a := range arr {
			out = append(out, a)
		}
		return out, nil
	}
	var list struct {
		Kind  string    `json:"kind"`
		Items []yamlRaw `json:"items"`
	}
	if err := yaml.Unmarshal(js, &list); err == nil && strings.HasSuffix(list.Kind, "List") && list.Items != nil {
		out := make([][]byte, 0, len(list.Items))
		for _, a := range list.Items {
			out = append(out, a)
		}
		return out, nil
	}
	return [][]byte{js}, nil
}

// yamlRaw keeps a JSON value as bytes.
type yamlRaw []byte

func (r *yamlRaw) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

func splitYAML(data []byte) [][]byte {
	var out [][]byte
	var cur []byte
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("---")) && isBlank(bytes.TrimPrefix(line, []byte("---"))) {
			out = append(out, cur)
			cur = nil
			continue
		}
		cur = append(cur, line...)
	}
	return append(out, cur)
}

// isBlank reports whether b holds only whitespace and YAML comments.
func isBlank(b []byte) bool {
	for _, line := range bytes.Split(b, []byte("\n")) {
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			return false
		}
	}
	return true
}
