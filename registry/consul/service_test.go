package consul

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/registry"
	"github.com/hashicorp/consul/api"

	"github.com/kitexsuite/suite/discoverycore"
)

func entry(id, addr string, port int, tags []string, meta map[string]string) *api.ServiceEntry {
	return &api.ServiceEntry{
		Node:    &api.Node{Address: "10.9.9.9"},
		Service: &api.AgentService{ID: id, Address: addr, Port: port, Tags: tags, Meta: meta, Weights: api.AgentWeights{Passing: 20}},
	}
}

func TestRegistrationRoundTrips(t *testing.T) {
	start := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	info := &registry.Info{ServiceName: "echo", Addr: &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 8888},
		Weight: 20, Tags: map[string]string{"zone": "a"}, StartTime: start, WarmUp: 30 * time.Second}
	svc, err := registration(info, newConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	if svc.ID != "echo:10.0.0.1:8888" || svc.Check.TTL != "10s" || svc.Check.Status != api.HealthPassing {
		t.Fatalf("registration %+v check %+v", svc, svc.Check)
	}
	ins, err := decode(&api.ServiceEntry{Service: &api.AgentService{ID: svc.ID, Address: svc.Address, Port: svc.Port,
		Tags: svc.Tags, Meta: svc.Meta, Weights: api.AgentWeights{Passing: svc.Weights.Passing}}})
	if err != nil || ins.Address().String() != "10.0.0.1:8888" || ins.Weight() != 20 || ins.Tags()["zone"] != "a" ||
		!ins.StartTime().Equal(start) || ins.WarmUp() != 30*time.Second {
		t.Fatalf("decoded %+v %v", ins, err)
	}
}

func TestRegistrationRejectsBadInfo(t *testing.T) {
	addr := &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1}
	for name, info := range map[string]*registry.Info{
		"nil":          nil,
		"no name":      {Addr: addr},
		"no address":   {ServiceName: "x"},
		"tag with sep": {ServiceName: "x", Addr: addr, Tags: map[string]string{"a:b": "c"}},
	} {
		if _, err := registration(info, newConfig(nil)); !errors.Is(err, ErrInvalidInfo) {
			t.Errorf("%s: err = %v, want ErrInvalidInfo", name, err)
		}
	}
}

func TestDecodeSkipsMalformedEntries(t *testing.T) {
	for name, e := range map[string]*api.ServiceEntry{
		"no service":    {Node: &api.Node{}},
		"bogus address": entry("a", "not an address!", 80, nil, nil),
		"no address":    {Service: &api.AgentService{ID: "b", Port: 80}},
		"port zero":     entry("c", "10.0.0.1", 0, nil, nil),
		"port too big":  entry("d", "10.0.0.1", 70000, nil, nil),
		"empty tag key": entry("e", "10.0.0.1", 80, []string{":v"}, nil),
		"bad start":     entry("f", "10.0.0.1", 80, nil, map[string]string{metaStarted: "yesterday"}),
		"bad warmup":    entry("g", "10.0.0.1", 80, nil, map[string]string{metaWarmUp: "-1s"}),
	} {
		if _, err := decode(e); err == nil {
			t.Errorf("%s: decoded", name)
		} else if ve := (*ValueError)(nil); !errors.As(err, &ve) {
			t.Errorf("%s: %v is not a *ValueError", name, err)
		}
	}
	// registry-consul's entries: tags "k:v", plain tags ignored, node address
	// standing in for an empty service address.
	ins, err := decode(entry("echo:10.0.0.2:1", "", 1, []string{"zone:b", "primary"}, nil))
	if err != nil || ins.Address().String() != "10.9.9.9:1" || len(ins.Tags()) != 1 || ins.Tags()["zone"] != "b" {
		t.Fatalf("contrib entry: %+v %v", ins, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("10.0.0.1", 80, "zone:a", "2026-01-01T00:00:00Z", "1s")
	f.Add("", 0, ":", "", "")
	f.Fuzz(func(t *testing.T, addr string, port int, tag, started, warmUp string) {
		ins, err := decode(entry("id", addr, port, []string{tag}, map[string]string{metaStarted: started, metaWarmUp: warmUp}))
		if (ins == nil) == (err == nil) {
			t.Fatalf("decode returned %v and %v", ins, err)
		}
		if ins != nil {
			if _, _, err := net.SplitHostPort(ins.Address().String()); err != nil || ins.Weight() <= 0 {
				t.Fatalf("instance %v weight %d reached the balancer", ins.Address(), ins.Weight())
			}
		}
	})
}

func TestResolverNameIsUniquePerResolver(t *testing.T) {
	a, _ := api.NewClient(api.DefaultConfig())
	b, _ := api.NewClient(api.DefaultConfig())
	names := map[string]string{}
	for what, r := range map[string]*discoverycore.Resolver{
		"default":      NewResolver(a),
		"datacenter":   NewResolver(a, WithDatacenter("dc2")),
		"tags":         NewResolver(a, WithTags("zone:a")),
		"stale":        NewResolver(a, WithStaleReads()),
		"other client": NewResolver(b),
	} {
		if prev, dup := names[r.Name()]; dup {
			t.Errorf("%s and %s share the name %q: Kitex would share their balancers", what, prev, r.Name())
		}
		names[r.Name()] = what
	}
	// Equal configurations too: Kitex would hand a client of the second
	// resolver the balancers of the first, closed or not.
	if r1, r2 := NewResolver(a), NewResolver(a); r1.Name() == r2.Name() {
		t.Errorf("two resolvers of one configuration share the name %q", r1.Name())
	}
}
