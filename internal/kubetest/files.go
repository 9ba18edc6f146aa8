package kubetest

import (
	"os"
	"path/filepath"
)

func newTempFile(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	return p, f.Close()
}
