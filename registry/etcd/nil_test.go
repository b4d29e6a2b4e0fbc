package etcd

import (
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A nil client is refused at once, with a message naming what is missing,
// by both constructors.
func TestNilClientPanicsAtOnce(t *testing.T) {
	check := func(name string, f func()) {
		t.Helper()
		defer func() {
			r := recover()
			if msg, _ := r.(string); !strings.Contains(msg, "kitexsuite/registry/etcd") || !strings.Contains(msg, "got nil") {
				t.Errorf("%s: recovered %v, want a message naming the nil client", name, r)
			}
		}()
		f()
	}
	check("NewRegistry", func() { NewRegistry((*clientv3.Client)(nil)) })
	check("NewResolver", func() { NewResolver((*clientv3.Client)(nil)) })
}
