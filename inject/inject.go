package inject

import (
	"bytes"
	"fmt"
)

// Result is the protected workload definition and what the user should know.
type Result struct {
	// Output is the rewritten input (YAML documents or task-definition JSON).
	Output []byte
	// Notes are human-readable remarks: skipped kinds, RBAC hints, caveats.
	Notes []string
	// Changed is false when the input was already protected (or had nothing
	// to protect); Output then equals the input.
	Changed bool
}

// Inject protects the workloads in input. The format (Kubernetes YAML or an
// ECS task definition) is detected unless o.Format says.
func Inject(input []byte, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, fmt.Errorf("options: %w", err)
	}
	o = o.withDefaults()
	switch o.Format {
	case "ecs":
		return injectECS(input, o)
	case "k8s":
		return injectK8s(input, o)
	}
	if t := bytes.TrimSpace(input); len(t) > 0 && t[0] == '{' {
		if tree, err := decodeJSON(t); err == nil && isECS(tree) {
			return injectECS(input, o)
		}
	}
	return injectK8s(input, o)
}
