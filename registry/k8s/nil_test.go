package k8s

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/registry"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// A nil client is refused at once, with a message naming what is missing,
// by both constructors.
func TestNilClientPanicsAtOnce(t *testing.T) {
	check := func(name string, f func()) {
		t.Helper()
		defer func() {
			r := recover()
			if msg, _ := r.(string); !strings.Contains(msg, "kitexsuite/registry/k8s") || !strings.Contains(msg, "got nil") {
				t.Errorf("%s: recovered %v, want a message naming the nil client", name, r)
			}
		}()
		f()
	}
	check("NewRegistry", func() { NewRegistry((*kubernetes.Clientset)(nil)) })
	check("NewResolver", func() { NewResolver((*kubernetes.Clientset)(nil)) })
	check("NewRegistry(nil interface)", func() { NewRegistry(nil) })
}

// A lease below MinTTL is not raised silently: Register fails with
// ErrInvalidConfig, before it calls the API server.
func TestTTLBelowMinimumFailsRegister(t *testing.T) {
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	info := &registry.Info{ServiceName: "echo", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}}
	err = NewRegistry(cs, WithTTL(2*time.Second), WithManagedEndpointSlice("prod", "echo")).Register(info)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "WithTTL(2s) is below the minimum 3s") {
		t.Fatalf("Register with WithTTL(2s): %v, want ErrInvalidConfig naming the minimum", err)
	}
}
