package consul

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/registry"
	"github.com/hashicorp/consul/api"
)

// A nil client is refused at once, with a message naming what is missing,
// by both constructors.
func TestNilClientPanicsAtOnce(t *testing.T) {
	check := func(name string, f func()) {
		t.Helper()
		defer func() {
			r := recover()
			if msg, _ := r.(string); !strings.Contains(msg, "kitexsuite/registry/consul") || !strings.Contains(msg, "got nil") {
				t.Errorf("%s: recovered %v, want a message naming the nil client", name, r)
			}
		}()
		f()
	}
	check("NewRegistry", func() { NewRegistry((*api.Client)(nil)) })
	check("NewResolver", func() { NewResolver((*api.Client)(nil)) })
}

// A TTL below MinTTL is not raised silently: Register fails with
// ErrInvalidConfig, before it calls the agent.
func TestTTLBelowMinimumFailsRegister(t *testing.T) {
	cli, err := api.NewClient(&api.Config{Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	info := &registry.Info{ServiceName: "echo", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}}
	err = NewRegistry(cli, WithTTL(time.Second)).Register(info)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "WithTTL(1s) is below the minimum 2s") {
		t.Fatalf("Register with WithTTL(1s): %v, want ErrInvalidConfig naming the minimum", err)
	}
}
