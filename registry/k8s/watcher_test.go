package k8s

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseTarget(t *testing.T) {
	cfg := newConfig(nil)
	for in, want := range map[string]target{
		"echo.prod:8888":                   {"echo", "prod", "8888"},
		"echo.prod:grpc":                   {"echo", "prod", "grpc"},
		"echo.prod.svc:8888":               {"echo", "prod", "8888"},
		"echo.prod.svc.cluster.local:8888": {"echo", "prod", "8888"},
		"echo":                             {"echo", "default", ""},
		"echo:8888":                        {"echo", "default", "8888"},
	} {
		got, err := parseTarget(in, cfg)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "Echo.prod:1", "echo.prod:", "echo.prod:0", "echo.prod:70000", "-x.prod:1", "echo.pr_od:1"} {
		var te *TargetError
		if _, err := parseTarget(bad, cfg); !errors.As(err, &te) {
			t.Errorf("%q: err = %v, want a *TargetError", bad, err)
		}
	}
}

type ep struct {
	ip                          string
	ready, serving, terminating *bool
	zone, node, pod             string
}

func boolp(b bool) *bool { return &b }

func slice(name string, port int32, portName string, eps ...ep) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: "prod", Labels: map[string]string{discoveryv1.LabelServiceName: "echo"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port}},
	}
	for _, e := range eps {
		x := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: e.ready, Serving: e.serving, Terminating: e.terminating}}
		if e.zone != "" {
			x.Zone = &e.zone
		}
		if e.node != "" {
			x.NodeName = &e.node
		}
		es.Endpoints = append(es.Endpoints, x)
	}
	return es
}

func resolveSlices(t *testing.T, cfg config, tgt string, slices ...*discoveryv1.EndpointSlice) []string {
	t.Helper()
	s := &source{cfg: cfg}
	tt, err := parseTarget(tgt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	objs := make([]any, len(slices))
	for i, es := range slices {
		objs[i] = es
	}
	now := time.Now()
	seen := leases{}
	seen.observe(objs, now)
	set, err := s.mergeAt(tt, objs, sliceCache{}, now, seen)
	if err != nil {
		t.Fatalf("%s: %v", tgt, err)
	}
	var out []string
	for _, ins := range set {
		out = append(out, fmt.Sprintf("%s %d %v", ins.Address(), ins.Weight(), ins.(interface{ Tags() map[string]string }).Tags()))
	}
	sort.Strings(out)
	return out
}

func TestInstancesMergeEverySlice(t *testing.T) {
	a := slice("echo-a", 8888, "rpc", ep{ip: "198.18.0.2", ready: boolp(true), zone: "z1", node: "n1"}, ep{ip: "198.18.0.3"})
	b := slice("echo-b", 8888, "rpc", ep{ip: "198.18.0.4", ready: boolp(true)}, ep{ip: "198.18.0.2", ready: boolp(true), zone: "z1", node: "n1"})
	got := resolveSlices(t, newConfig(nil), "echo.prod:8888", a, b)
	want := []string{"198.18.0.2:8888 10 map[node:n1 zone:z1]", "198.18.0.3:8888 10 map[]", "198.18.0.4:8888 10 map[]"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if got := resolveSlices(t, newConfig(nil), "echo.prod:rpc", a); len(got) != 2 {
		t.Fatalf("by port name: %v", got)
	}
}

// mergeErr merges slices for tgt and returns the error.
func mergeErr(t *testing.T, cfg config, tgt string, slices ...*discoveryv1.EndpointSlice) error {
	t.Helper()
	tt, err := parseTarget(tgt, cfg)
	if err != nil {
		t.Fatal(err)
	}
	objs := make([]any, len(slices))
	for i, es := range slices {
		objs[i] = es
	}
	_, err = (&source{cfg: cfg}).mergeAt(tt, objs, sliceCache{}, time.Now(), leases{})
	return err
}

// A target whose port the Service's endpoints do not have (the Service port
// 80 of a Service whose targetPort is 8888), or that names no port on a
// multi-port Service, is a TargetError naming the ports there are, not an
// authoritative empty set; a Service with no endpoints yet is empty.
func TestTargetPortMustMatchAnEndpointPort(t *testing.T) {
	a := slice("echo-a", 8888, "rpc", ep{ip: "198.18.0.2", ready: boolp(true)})
	for tgt, want := range map[string]string{
		"echo.prod:80":   `no endpoint port "80" (the Service's endpoints have 8888 (rpc))`,
		"echo.prod:grpc": `no endpoint port "grpc"`,
	} {
		var te *TargetError
		if err := mergeErr(t, newConfig(nil), tgt, a); !errors.As(err, &te) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a *TargetError saying %s", tgt, err, want)
		}
	}
	multi := slice("echo-m", 8888, "rpc", ep{ip: "198.18.0.2", ready: boolp(true)})
	metricsPort, metricsName := int32(9090), "metrics"
	multi.Ports = append(multi.Ports, discoveryv1.EndpointPort{Name: &metricsName, Port: &metricsPort})
	if err := mergeErr(t, newConfig(nil), "echo.prod", multi); err == nil || !strings.Contains(err.Error(), "several ports (8888 (rpc), 9090 (metrics))") {
		t.Errorf("no port on a multi-port Service: %v", err)
	}
	if got := resolveSlices(t, newConfig(nil), "echo.prod:metrics", multi); len(got) != 1 || !strings.HasPrefix(got[0], "198.18.0.2:9090 ") {
		t.Errorf("the named port of a multi-port Service: %v", got)
	}
	empty := &discoveryv1.EndpointSlice{ObjectMeta: a.ObjectMeta, AddressType: discoveryv1.AddressTypeIPv4}
	if got := resolveSlices(t, newConfig(nil), "echo.prod:80", empty); len(got) != 0 {
		t.Errorf("a Service with no endpoints: %v, want empty", got)
	}
}

// A dual-stack Service has an IPv4 and an IPv6 slice listing the same
// pods: each pod is one instance (at its IPv4 address), unless
// WithAddressFamily picks the family.
func TestDualStackListsEachPodOnce(t *testing.T) {
	v4 := slice("echo-v4", 8888, "rpc", ep{ip: "198.18.0.2", ready: boolp(true)}, ep{ip: "198.18.0.3", ready: boolp(true)})
	v6 := slice("echo-v6", 8888, "rpc", ep{ip: "fd00::2", ready: boolp(true)}, ep{ip: "fd00::3", ready: boolp(true)})
	v6.AddressType = discoveryv1.AddressTypeIPv6
	for i, pod := range []string{"echo-0", "echo-1"} {
		for _, es := range []*discoveryv1.EndpointSlice{v4, v6} {
			es.Endpoints[i].TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: "prod", Name: pod}
		}
	}
	addrsOnly := func(got []string) string {
		var out []string
		for _, g := range got {
			out = append(out, strings.Fields(g)[0])
		}
		return strings.Join(out, " ")
	}
	if got := addrsOnly(resolveSlices(t, newConfig(nil), "echo.prod:8888", v6, v4)); got != "198.18.0.2:8888 198.18.0.3:8888" {
		t.Errorf("dual stack: %s, want each pod once at its IPv4 address", got)
	}
	if got := addrsOnly(resolveSlices(t, newConfig([]Option{WithAddressFamily(discoveryv1.AddressTypeIPv6)}), "echo.prod:8888", v4, v6)); got != "[fd00::2]:8888 [fd00::3]:8888" {
		t.Errorf("WithAddressFamily(IPv6): %s", got)
	}
}

func TestTerminatingAndNotReadyGetNoCalls(t *testing.T) {
	es := slice("echo-a", 8888, "",
		ep{ip: "198.18.0.2", ready: boolp(false)},
		ep{ip: "198.18.0.3", ready: boolp(false), serving: boolp(true), terminating: boolp(true)},
		// publishNotReadyAddresses: ready is always true, serving is the pod's
		ep{ip: "198.18.0.5", ready: boolp(true), serving: boolp(false)},
		ep{ip: "198.18.0.6", ready: boolp(true), serving: boolp(true), terminating: boolp(true)},
		ep{ip: "198.18.0.4", ready: boolp(true)})
	if got := resolveSlices(t, newConfig(nil), "echo.prod", es); len(got) != 1 || got[0][:15] != "198.18.0.4:8888" {
		t.Fatalf("got %v, want only the ready endpoint", got)
	}
	es.Endpoints = es.Endpoints[:2] // nothing ready any more
	if got := resolveSlices(t, newConfig(nil), "echo.prod", es); len(got) != 0 {
		t.Fatalf("default: %v, want no endpoint", got)
	}
	if got := resolveSlices(t, newConfig([]Option{WithServingTerminating()}), "echo.prod", es); len(got) != 1 || got[0][:15] != "198.18.0.3:8888" {
		t.Fatalf("WithServingTerminating: %v, want the serving terminating endpoint", got)
	}
}

func TestWeightAnnotationAndManagedLease(t *testing.T) {
	es := slice("echo-vm", 8888, "", ep{ip: "198.18.0.9", ready: boolp(true)})
	es.Annotations = map[string]string{WeightAnnotation: "30", RenewAnnotation: time.Now().UTC().Format(time.RFC3339Nano), TTLAnnotation: "15s"}
	if got := resolveSlices(t, newConfig(nil), "echo.prod", es); len(got) != 1 || got[0] != "198.18.0.9:8888 30 map[]" {
		t.Fatalf("got %v", got)
	}
	es.Annotations[RenewAnnotation] = "yesterday"
	if got := resolveSlices(t, newConfig(nil), "echo.prod", es); len(got) != 0 {
		t.Fatalf("managed slice with an unreadable lease served %v", got)
	}
}

// A managed slice's lease runs from when this client saw its renew time,
// not from the renew time (the writer's clock): a writer an hour behind
// is served while it renews, and expires a TTL after its last renewal
// this client saw.
func TestManagedLeaseIsJudgedByThisClientsClock(t *testing.T) {
	cfg := newConfig(nil)
	tt, err := parseTarget("echo.prod", cfg)
	if err != nil {
		t.Fatal(err)
	}
	es := slice("echo-vm", 8888, "", ep{ip: "198.18.0.9", ready: boolp(true)})
	writer := time.Now().Add(-time.Hour) // the writer's clock
	es.Annotations = map[string]string{RenewAnnotation: writer.UTC().Format(time.RFC3339Nano), TTLAnnotation: "15s"}
	seen := leases{}
	at := func(now time.Time) int {
		objs := []any{es}
		seen.observe(objs, now)
		set, err := (&source{cfg: cfg}).mergeAt(tt, objs, sliceCache{}, now, seen)
		if err != nil {
			t.Fatal(err)
		}
		return len(set)
	}
	t0 := time.Now()
	if n := at(t0); n != 1 {
		t.Fatalf("a renewal just seen, from a writer an hour behind: %d instances, want 1", n)
	}
	if n := at(t0.Add(14 * time.Second)); n != 1 {
		t.Fatalf("14 s after the renewal was seen (TTL 15 s): %d instances, want 1", n)
	}
	if n := at(t0.Add(16 * time.Second)); n != 0 {
		t.Fatalf("16 s after the last renewal seen (TTL 15 s): %d instances, want 0", n)
	}
	es.Annotations[RenewAnnotation] = writer.Add(20 * time.Second).UTC().Format(time.RFC3339Nano)
	if n := at(t0.Add(20 * time.Second)); n != 1 {
		t.Fatalf("renewed again: %d instances, want 1", n)
	}
}

func TestBadEndpointsAreSkipped(t *testing.T) {
	es := slice("echo-a", 8888, "", ep{ip: "not-an-ip", ready: boolp(true)}, ep{ip: "198.18.0.2", ready: boolp(true)})
	es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{})
	if got := resolveSlices(t, newConfig(nil), "echo.prod", es); len(got) != 1 {
		t.Fatalf("got %v", got)
	}
}

func TestNextExpiry(t *testing.T) {
	now := time.Now()
	es := slice("vm", 8888, "", ep{ip: "198.18.0.9"})
	es.Annotations = map[string]string{RenewAnnotation: now.Add(-time.Hour).UTC().Format(time.RFC3339Nano), TTLAnnotation: "15s"}
	seen := leases{}
	seen.observe([]any{es}, now.Add(-10*time.Second)) // seen 10 s ago
	if d := seen.nextExpiry([]any{es, slice("pods", 8888, "")}, now); d < 4*time.Second || d > 6*time.Second {
		t.Fatalf("next expiry in %v, want about 5s", d)
	}
	if d := seen.nextExpiry([]any{slice("pods", 8888, "")}, now); d != time.Hour {
		t.Fatalf("no managed slice: %v", d)
	}
}
