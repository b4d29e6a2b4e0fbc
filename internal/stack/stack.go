// Package stack gives the goroutine that serves a Kitex request its stack
// up front, while growing it is cheap.
//
// Go starts a goroutine with a 2 KiB stack and doubles it, copying, when a
// call needs more. The copy walks every frame on the stack, so its cost
// grows with depth. Kitex (with netpoll) serves each request on a fresh
// goroutine: bare Kitex grows it once, to 4 KiB, near the top of the call;
// a tracing or metrics Suite working in a tracer's Finish or a middleware,
// thirty frames down, pushed it past 4 KiB there, and the second copy of
// that deep stack cost more than everything else the Suite did (about
// 3 µs per call in BenchmarkEcho, most of the gap to bare Kitex).
//
// Inbound, installed by the Suites as a Kitex inbound handler, runs first
// on the request goroutine, a handful of frames deep, and grows the stack
// straight to 8 KiB there: one cheap copy instead of bare Kitex's own
// 2→4 KiB copy plus the deep one. A goroutine whose stack is already large
// enough (one serving several requests in a row) pays only for zeroing
// Reserve's frame. A server whose handlers make traced client calls goes
// deeper still (see Hint) and starts its requests at 16 KiB instead.
package stack

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/cloudwego/kitex/pkg/remote"
)

// reserve and reserveDeep are the frame sizes of Reserve and ReserveDeep:
// called up to about 1.5 KiB deep on a 2 or 4 KiB stack, a frame this size
// makes the runtime allocate 8 KiB (16 KiB) and no more, since it doubles
// the stack until the frame fits with its guard. 16 KiB is the largest
// size the runtime keeps per-P caches of stacks for.
const (
	reserve     = 4096
	reserveDeep = 8192
)

// Reserve makes sure about reserve bytes of stack are free below its
// caller, growing the goroutine's stack now if they are not. The argument
// and result only keep the compiler from discarding the frame.
//
//go:noinline
func Reserve(n int) byte {
	var buf [reserve]byte
	buf[n&(reserve-1)] = byte(n)
	return buf[(n>>1)&(reserve-1)]
}

// ReserveDeep is Reserve for a goroutine headed for 16 KiB.
//
//go:noinline
func ReserveDeep(n int) byte {
	var buf [reserveDeep]byte
	buf[n&(reserveDeep-1)] = byte(n)
	return buf[(n>>1)&(reserveDeep-1)]
}

// Hint tells a server's Inbound that its handlers go deep: they make
// traced client calls, whose span ends (the SDK's snapshot) run at the
// bottom of a stack already 8 KiB deep, so each such request would grow
// it again, copying it all, unless it starts at 16 KiB. The tracing client
// Suite sets it on the server it finds in a call's context; the zero value
// is a leaf server.
type Hint struct{ deep atomic.Bool }

// SetDeep marks the server's handlers as making deep calls. Safe for
// concurrent use, and cheap once set.
func (h *Hint) SetDeep() {
	if !h.deep.Load() {
		h.deep.Store(true)
	}
}

// Deep reports whether SetDeep was called.
func (h *Hint) Deep() bool { return h.deep.Load() }

// Inbound is a Kitex server inbound handler that calls Reserve (or
// ReserveDeep, once Hint says so) at the start of every read, before Kitex
// decodes the request. Owner names the Suite that installed it: Kitex drops
// a handler deeply equal to one already installed with a warning, so the
// tracing and metrics Suites each install their own (the second one finds
// the stack large enough).
type Inbound struct {
	Owner string
	Hint  *Hint // nil: always Reserve
}

var _ remote.InboundHandler = Inbound{}

// OnRead reserves the stack; the request is untouched.
func (h Inbound) OnRead(ctx context.Context, _ net.Conn) (context.Context, error) {
	if h.Hint != nil && h.Hint.Deep() {
		ReserveDeep(1)
	} else {
		Reserve(1)
	}
	return ctx, nil
}

// OnActive implements remote.InboundHandler; it does nothing.
func (Inbound) OnActive(ctx context.Context, _ net.Conn) (context.Context, error) { return ctx, nil }

// OnInactive implements remote.InboundHandler; it does nothing.
func (Inbound) OnInactive(ctx context.Context, _ net.Conn) context.Context { return ctx }

// OnMessage implements remote.InboundHandler; it does nothing.
func (Inbound) OnMessage(ctx context.Context, _, _ remote.Message) (context.Context, error) {
	return ctx, nil
}
