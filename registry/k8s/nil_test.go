package k8s

import (
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
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
