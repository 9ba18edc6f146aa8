package container

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ParseDownwardAPI reads a Kubernetes downward API labels or annotations
// file: one `key="value"` per line, sorted, the value quoted with Go's %q
// (so quotes, backslashes and newlines inside values are escaped). Lines
// that do not parse are skipped and reported in the joined error, so one odd
// annotation does not lose the others.
func ParseDownwardAPI(data []byte) (map[string]string, error) {
	out := make(map[string]string)
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20) // annotations can be long (last-applied-configuration)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			errs = append(errs, fmt.Errorf("line %d: want key=\"value\"", n))
			continue
		}
		uv, err := strconv.Unquote(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d (key %q): value %w", n, k, err))
			continue
		}
		out[k] = uv
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// ignoredLabels are labels Kubernetes controllers add that change on every
// rollout; KubeArmor leaves them out of an event's Labels string.
var ignoredLabels = map[string]bool{
	"pod-template-hash":        true,
	"pod-template-generation":  true,
	"controller-revision-hash": true,
}

// FormatLabels renders labels as KubeArmor's Labels field: "k=v,k=v",
// sorted by key, without the rollout labels above.
func FormatLabels(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if ignoredLabels[k] {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
	}
	return b.String()
}
