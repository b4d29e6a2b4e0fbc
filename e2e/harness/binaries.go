package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// HelmVersion is the Helm CLI scripts/build-helm.sh builds.
const HelmVersion = "v3.22.0"

// cachedPath is where the build scripts put name:
// ${KITEXSUITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kitexsuite}/bin/name,
// unless the environment variable override names another path.
func cachedPath(override, name string) (string, error) {
	if path := os.Getenv(override); path != "" {
		return path, nil
	}
	cache := os.Getenv("KITEXSUITE_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("no cache directory: %w (set %s or KITEXSUITE_CACHE)", err, override)
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "kitexsuite")
	}
	return filepath.Join(cache, "bin", name), nil
}

// executable fails unless path is an executable file, naming the script
// that builds it.
func executable(path, what, script, override string) error {
	info, err := os.Stat(path)
	if err == nil && (info.IsDir() || info.Mode().Perm()&0o111 == 0) {
		err = errors.New("not an executable file")
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w; build it with %s (or point %s at one)", what, path, err, script, override)
	}
	return nil
}

// ConsulBinary returns the consul binary the harness runs: $KITEXSUITE_CONSUL,
// else consul-v1.22.0 where scripts/build-consul.sh builds it.
func ConsulBinary() (string, error) {
	path, err := cachedPath("KITEXSUITE_CONSUL", "consul-"+ConsulVersion)
	if err == nil {
		err = executable(path, "consul "+ConsulVersion+" binary", "scripts/build-consul.sh", "KITEXSUITE_CONSUL")
	}
	return path, err
}

// KubeBinaries returns the directory holding kube-apiserver and
// kube-controller-manager: $KITEXSUITE_KUBE_DIR, else kubernetes-v1.37.2
// where scripts/build-kubernetes.sh builds them.
func KubeBinaries() (string, error) {
	dir, err := cachedPath("KITEXSUITE_KUBE_DIR", "kubernetes-"+KubernetesVersion)
	if err != nil {
		return "", err
	}
	for _, name := range []string{"kube-apiserver", "kube-controller-manager"} {
		if err := executable(filepath.Join(dir, name), "kubernetes "+KubernetesVersion+" binary", "scripts/build-kubernetes.sh", "KITEXSUITE_KUBE_DIR"); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// HelmBinary returns the Helm CLI: $KITEXSUITE_HELM, else helm-v3.22.0
// where scripts/build-helm.sh builds it.
func HelmBinary() (string, error) {
	path, err := cachedPath("KITEXSUITE_HELM", "helm-"+HelmVersion)
	if err == nil {
		err = executable(path, "helm "+HelmVersion+" binary", "scripts/build-helm.sh", "KITEXSUITE_HELM")
	}
	return path, err
}
