package metrics

import (
	"maps"
	"sync"
	"sync/atomic"

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

// statusOK is rpcmodel.Call.StatusCode of a success.
const statusOK = "OK"

// bizCodeGuard bounds the business status codes reported as status_code:
// a handler picks them, so a Suite names the first limit distinct codes and
// reports the rest as _OTHER. Reads are lock-free and allocation-free on an
// immutable map (at most limit entries) replaced under mu on admission.
type bizCodeGuard struct {
	limit int
	codes atomic.Pointer[map[int32]string] // code -> its decimal label
	mu    sync.Mutex
}

func newBizCodeGuard(limit int) *bizCodeGuard {
	g := &bizCodeGuard{limit: limit}
	g.codes.Store(&map[int32]string{})
	return g
}

// statusCode returns the status_code label of call: call.StatusCode(), with
// a business code past the limit reported as _OTHER. The other values ("OK",
// gRPC code names, error types) are fixed sets.
func (g *bizCodeGuard) statusCode(call *rpcmodel.Call) string {
	if call.Outcome != rpcmodel.BizError {
		return call.StatusCode()
	}
	if s, ok := (*g.codes.Load())[call.BizCode]; ok {
		return s
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	codes := *g.codes.Load()
	if s, ok := codes[call.BizCode]; ok {
		return s
	}
	if len(codes) >= g.limit {
		return rpcmodel.OtherMethod
	}
	next := make(map[int32]string, len(codes)+1)
	maps.Copy(next, codes)
	s := call.StatusCode() // formatted once per code, not per call
	next[call.BizCode] = s
	g.codes.Store(&next)
	return s
}
