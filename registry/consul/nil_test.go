package consul

import (
	"strings"
	"testing"

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
