package consul

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudwego/kitex/pkg/registry"
	"github.com/hashicorp/consul/api"

	"github.com/kitexsuite/suite/discoverycore"
)

// How a Kitex instance is stored in Consul. ID and tags are exactly
// kitex-contrib registry-consul's ("{service}:{host}:{port}", a "key:value"
// Consul tag per Kitex tag), so either side finds the other's servers; the
// start time and warm-up go in service meta, which registry-consul ignores.
const (
	tagSeparator = ":"
	metaStarted  = "kitexsuite_start_time"
	metaWarmUp   = "kitexsuite_warmup"
)

var (
	// ErrInvalidInfo is returned (wrapped) by Register and Deregister for
	// registry.Info they cannot store.
	ErrInvalidInfo = errors.New("kitexsuite/consul: invalid registry info")
	// ErrInvalidConfig is returned (wrapped) by Register when an option was
	// given a value the registry cannot use (see WithTTL).
	ErrInvalidConfig = errors.New("kitexsuite/consul: invalid registry option")
)

// PermissionError is a request Consul's ACLs refused, naming the
// permission the token lacks.
type PermissionError struct {
	Op         string // "register echo", "resolve echo"
	Permission string // e.g. `service:write on "echo"`
	Err        error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("kitexsuite/consul: %s: the ACL token needs %s: %v", e.Op, e.Permission, e.Err)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// permission turns a 403 into a PermissionError; other errors pass.
func permission(err error, op, perm string) error {
	var se api.StatusError
	if errors.As(err, &se) && se.Code == http.StatusForbidden {
		return &PermissionError{Op: op, Permission: perm, Err: err}
	}
	return err
}

// permanent reports whether retrying err cannot help: an ACL refusal, a
// request the agent rejects, or a TLS certificate this client does not
// trust (a wrong or missing CA stays wrong).
func permanent(err error) bool {
	var (
		se       api.StatusError
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		hostname x509.HostnameError
		verify   *tls.CertificateVerificationError
	)
	if errors.As(err, &se) {
		return se.Code == http.StatusForbidden || se.Code == http.StatusBadRequest
	}
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify)
}

// ValueError says why a catalog entry is not a usable instance. The
// resolver skips such entries and logs each once.
type ValueError struct {
	ServiceID string
	Reason    string
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("kitexsuite/consul: skipping service instance %q: %s", e.ServiceID, e.Reason)
}

// serviceID is registry-consul's instance ID.
func serviceID(service, host string, port int) string {
	return service + ":" + host + ":" + strconv.Itoa(port)
}

// registration builds what the agent stores for info, with cfg's check.
func registration(info *registry.Info, cfg config) (*api.AgentServiceRegistration, error) {
	if info == nil || info.ServiceName == "" || info.Addr == nil {
		return nil, fmt.Errorf("%w: need a service name and an address", ErrInvalidInfo)
	}
	hostPort, err := discoverycore.AdvertisedAddr(info.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInfo, err)
	}
	host, portStr, _ := net.SplitHostPort(hostPort)
	port, _ := strconv.Atoi(portStr)
	tags := make([]string, 0, len(info.Tags))
	for k, v := range info.Tags {
		if k == "" || strings.Contains(k, tagSeparator) {
			return nil, fmt.Errorf("%w: tag key %q must be non-empty and free of %q", ErrInvalidInfo, k, tagSeparator)
		}
		tags = append(tags, k+tagSeparator+v)
	}
	started := info.StartTime
	if started.IsZero() {
		started = time.Now()
	}
	meta := map[string]string{metaStarted: started.UTC().Format(time.RFC3339Nano)}
	if info.WarmUp > 0 {
		meta[metaWarmUp] = info.WarmUp.String()
	}
	weight := info.Weight
	if weight <= 0 {
		weight = 10
	}
	id := serviceID(info.ServiceName, host, port)
	svc := &api.AgentServiceRegistration{
		ID: id, Name: info.ServiceName, Address: host, Port: port, Tags: tags, Meta: meta,
		Weights: &api.AgentWeights{Passing: weight, Warning: 1},
	}
	if cfg.check == nil {
		svc.Check = &api.AgentServiceCheck{
			CheckID: "service:" + id, Name: "kitexsuite heartbeat", TTL: cfg.ttl.String(),
			Status: api.HealthPassing, DeregisterCriticalServiceAfter: cfg.deregAfter.String(),
		}
	} else {
		check := *cfg.check
		if check.TCP == "" && check.HTTP == "" && check.GRPC == "" && check.TTL == "" && len(check.Args) == 0 {
			check.TCP = hostPort
		}
		if check.Status == "" {
			// Kitex registers a second after the listener is up: start
			// passing instead of waiting up to an interval for the first run.
			check.Status = api.HealthPassing
		}
		if check.DeregisterCriticalServiceAfter == "" {
			check.DeregisterCriticalServiceAfter = cfg.deregAfter.String()
		}
		svc.Check = &check
	}
	return svc, nil
}

// decode turns a passing health entry into an instance.
func decode(e *api.ServiceEntry) (*discoverycore.Instance, error) {
	if e == nil || e.Service == nil {
		return nil, &ValueError{ServiceID: "?", Reason: "entry without a service"}
	}
	s := e.Service
	host := s.Address
	if host == "" && e.Node != nil {
		host = e.Node.Address // Consul's rule: the node's address stands in
	}
	if !validHost(host) {
		return nil, &ValueError{ServiceID: s.ID, Reason: fmt.Sprintf("bad address %q", host)}
	}
	if s.Port <= 0 || s.Port > 65535 {
		return nil, &ValueError{ServiceID: s.ID, Reason: fmt.Sprintf("bad port %d", s.Port)}
	}
	tags := make(map[string]string, len(s.Tags))
	for _, t := range s.Tags {
		k, v, ok := strings.Cut(t, tagSeparator)
		if !ok {
			continue // a plain Consul tag, not a Kitex key:value tag
		}
		if k == "" {
			return nil, &ValueError{ServiceID: s.ID, Reason: fmt.Sprintf("tag %q has an empty key", t)}
		}
		tags[k] = v
	}
	var started time.Time
	if v, ok := s.Meta[metaStarted]; ok {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, &ValueError{ServiceID: s.ID, Reason: fmt.Sprintf("bad %s %q", metaStarted, v)}
		}
		started = t
	}
	var warmUp time.Duration
	if v, ok := s.Meta[metaWarmUp]; ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, &ValueError{ServiceID: s.ID, Reason: fmt.Sprintf("bad %s %q", metaWarmUp, v)}
		}
		warmUp = d
	}
	return discoverycore.NewInstance("tcp", net.JoinHostPort(host, strconv.Itoa(s.Port)), s.Weights.Passing, tags, started, warmUp), nil
}

// validHost accepts an IP address or a DNS name.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
