package k8s

import (
	"fmt"
	"strconv"
	"strings"
)

// target is a parsed "name.namespace:port".
type target struct {
	name, namespace string
	port            string // a number (the endpoint port) or a port name; "" when the slice has one port
}

// String is the target as name.namespace[:port].
func (t target) String() string {
	s := t.name + "." + t.namespace
	if t.port != "" {
		s += ":" + t.port
	}
	return s
}

// TargetError says why a target is not "name[.namespace[.svc[.domain]]][:port]".
type TargetError struct {
	Target, Reason string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("kitexsuite/k8s: target %q: %s (want name.namespace:port, port by number or name)", e.Target, e.Reason)
}

// parseTarget accepts name.namespace:port, name.namespace.svc:port and
// name.namespace.svc.<cluster domain>:port; the port may be omitted when
// the service's EndpointSlices carry a single port, and the namespace
// defaults to cfg's.
func parseTarget(s string, cfg config) (target, error) {
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if port == "" {
			return target{}, &TargetError{s, "empty port"}
		}
		if n, err := strconv.Atoi(port); err == nil && (n < 1 || n > 65535) {
			return target{}, &TargetError{s, "port out of range"}
		}
	}
	if cfg.clusterDomain != "" {
		host = strings.TrimSuffix(host, "."+cfg.clusterDomain)
	}
	host = strings.TrimSuffix(host, ".svc")
	name, ns, _ := strings.Cut(host, ".")
	if ns == "" {
		ns = cfg.defaultNamespace
	}
	if !dnsLabel(name) || !dnsLabel(ns) {
		return target{}, &TargetError{s, "service name and namespace must be DNS labels"}
	}
	return target{name: name, namespace: ns, port: port}, nil
}

// dnsLabel is Kubernetes' rule for Service and namespace names (RFC 1123).
func dnsLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
