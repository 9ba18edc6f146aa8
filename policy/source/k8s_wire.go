//go:build !nok8s

package source

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/bluelock/bluelock/policy/source/k8s"
)

// newK8s returns the Kubernetes source when it is enabled, nil otherwise.
func newK8s(cfg Config, store Store, logger *slog.Logger) (gated, error) {
	on, err := k8sEnabled(cfg)
	if err != nil || !on {
		return nil, err
	}
	src, err := k8s.New(k8s.Config{
		Kubeconfig: cfg.Kubeconfig,
		PodName:    cfg.PodName,
		Namespace:  cfg.Namespace,
		PodInfoDir: cfg.PodInfoDir,
		Parse:      cfg.parse,
	}, store, store, logger)
	if err != nil {
		return nil, fmt.Errorf("kubernetes policy source: %w", err)
	}
	return src, nil
}

// k8sEnabled resolves --policy-k8s: auto means a kubeconfig was given, or we
// run in a pod whose service-account token is mounted.
func k8sEnabled(cfg Config) (bool, error) {
	switch strings.ToLower(cfg.K8s) {
	case "", "auto":
		if cfg.Kubeconfig != "" {
			return true, nil
		}
		if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
			return false, nil
		}
		_, err := os.Stat(k8s.ServiceAccountTokenFile)
		return err == nil, nil
	default:
		b, err := strconv.ParseBool(cfg.K8s)
		if err != nil {
			return false, fmt.Errorf("--policy-k8s=%q: want auto, true or false", cfg.K8s)
		}
		return b, nil
	}
}
