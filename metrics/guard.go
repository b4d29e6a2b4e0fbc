package metrics

import (
	"sync"

	"github.com/kitexsuite/suite/rpcmodel"
)

// peerGuard bounds the values of the caller/callee label, which come from
// the wire: an allow-list, or the first limit distinct names.
type peerGuard struct {
	allow map[string]bool // nil: no allow-list
	limit int

	seen sync.Map // string -> struct{}: names admitted so far
	mu   sync.Mutex
	n    int
}

func newPeerGuard(allow []string, limit int) *peerGuard {
	g := &peerGuard{limit: limit}
	if allow != nil {
		g.allow = make(map[string]bool, len(allow))
		for _, a := range allow {
			g.allow[a] = true
		}
	}
	return g
}

// label returns name if it may be a label value, else rpcmodel.OtherMethod
// ("_OTHER"). An empty name (the caller did not say) stays empty.
func (g *peerGuard) label(name string) string {
	if name == "" {
		return ""
	}
	if g.allow != nil {
		if g.allow[name] {
			return name
		}
		return rpcmodel.OtherMethod
	}
	if _, ok := g.seen.Load(name); ok {
		return name
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.seen.Load(name); ok {
		return name
	}
	if g.n >= g.limit {
		return rpcmodel.OtherMethod
	}
	g.n++
	g.seen.Store(name, struct{}{})
	return name
}
