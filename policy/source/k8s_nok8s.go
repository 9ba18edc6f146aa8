//go:build nok8s

package source

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// newK8s: this build has no Kubernetes support (-tags nok8s, the ECS build).
// auto quietly means off; asking for it explicitly is an error, never a
// silent start without the policies the operator expected.
func newK8s(cfg Config, store Store, logger *slog.Logger) (gated, error) {
	switch strings.ToLower(cfg.K8s) {
	case "", "auto":
		if cfg.Kubeconfig != "" {
			return nil, errors.New("--kubeconfig given, but this bluelock was built without Kubernetes support (-tags nok8s)")
		}
		return nil, nil
	}
	on, err := strconv.ParseBool(cfg.K8s)
	if err != nil {
		return nil, fmt.Errorf("--policy-k8s=%q: want auto, true or false", cfg.K8s)
	}
	if on {
		return nil, errors.New("--policy-k8s=true, but this bluelock was built without Kubernetes support (-tags nok8s)")
	}
	return nil, nil
}
