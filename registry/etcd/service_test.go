package etcd

import (
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitexsuite/suite/discoverycore"
)

func TestDecodeRejectsMalformedValues(t *testing.T) {
	for name, value := range map[string]string{
		"not json":       `hello`,
		"wrong types":    `{"network":"tcp","address":"127.0.0.1:1","weight":"heavy"}`,
		"tags not map":   `{"address":"127.0.0.1:1","tags":["a"]}`,
		"no port":        `{"address":"127.0.0.1"}`,
		"port zero":      `{"address":"127.0.0.1:0"}`,
		"port too large": `{"address":"127.0.0.1:70000"}`,
		"negative":       `{"address":"127.0.0.1:1","weight":-1}`,
		"bad warmup":     `{"address":"127.0.0.1:1","warmup":"soon"}`,
		"huge":           `{"address":"127.0.0.1:1","tags":{"x":"` + strings.Repeat("x", 70<<10) + `"}}`,
	} {
		_, err := decode("p/svc/127.0.0.1:1", []byte(value), DefaultMaxValueSize)
		var ve *ValueError
		if !errors.As(err, &ve) || ve.Key != "p/svc/127.0.0.1:1" {
			t.Errorf("%s: err = %v, want a *ValueError", name, err)
		}
	}
}

func TestDecodeReadsOursAndContribs(t *testing.T) {
	start := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	v, err := encode(record{Network: "tcp", Address: "10.0.0.1:8888", Weight: 20, Tags: map[string]string{"zone": "a"}, StartTime: &start, WarmUp: "30s"})
	if err != nil {
		t.Fatal(err)
	}
	ins, err := decode("k", []byte(v), DefaultMaxValueSize)
	if err != nil || ins.Address().String() != "10.0.0.1:8888" || ins.Weight() != 20 || ins.Tags()["zone"] != "a" ||
		!ins.StartTime().Equal(start) || ins.WarmUp() != 30*time.Second {
		t.Fatalf("ours: %+v %v", ins, err)
	}
	// kitex-contrib registry-etcd v0.2.4's instanceInfo, weight 0 = default.
	ins, err = decode("kitex/registry-etcd/svc/10.0.0.2:1", []byte(`{"network":"tcp","address":"10.0.0.2:1","weight":0,"tags":null}`), DefaultMaxValueSize)
	if err != nil || ins.Weight() != 10 || ins.Address().String() != "10.0.0.2:1" {
		t.Fatalf("contrib: %+v %v", ins, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"network":"tcp","address":"127.0.0.1:1","weight":10,"tags":{"a":"b"},"warmup":"1s"}`))
	f.Add([]byte(`{"address":"[::1]:80","start_time":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, value []byte) {
		ins, err := decode("p/svc/x", value, DefaultMaxValueSize)
		if (ins == nil) == (err == nil) {
			t.Fatalf("decode returned %v and %v", ins, err)
		}
		if ins != nil && ins.Weight() <= 0 {
			t.Fatalf("weight %d reached the balancer", ins.Weight())
		}
	})
}

func TestResolverNameIsUniquePerResolver(t *testing.T) {
	a, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	names := map[string]string{}
	for what, r := range map[string]*discoverycore.Resolver{
		"default":      NewResolver(a),
		"other prefix": NewResolver(a, WithPrefix("other")),
		"contrib read": NewResolver(a, WithContribLayoutRead()),
		"other client": NewResolver(b),
	} {
		if prev, dup := names[r.Name()]; dup {
			t.Errorf("%s and %s share the name %q: Kitex would share their balancers", what, prev, r.Name())
		}
		names[r.Name()] = what
		_ = r.Close()
	}
	// Equal configurations too: Kitex would hand a client of the second
	// resolver the balancers of the first, closed or not.
	if r1, r2 := NewResolver(a), NewResolver(a); r1.Name() == r2.Name() {
		t.Errorf("two resolvers of one configuration share the name %q", r1.Name())
	}
}
