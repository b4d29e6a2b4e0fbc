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
// Reserve's frame.
package stack

import (
	"context"
	"net"

	"github.com/cloudwego/kitex/pkg/remote"
)

// reserve is the frame size of Reserve: called up to about 1.5 KiB deep on
// a 2 or 4 KiB stack, a frame this size makes the runtime allocate 8 KiB
// (it doubles until the frame fits with its guard) and no more.
const reserve = 4096

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

// Inbound is a Kitex server inbound handler that calls Reserve at the start
// of every read, before Kitex decodes the request. Owner names the Suite
// that installed it: Kitex drops a handler deeply equal to one already
// installed with a warning, so the tracing and metrics Suites each install
// their own (the second one's Reserve finds the stack large enough).
type Inbound struct{ Owner string }

var _ remote.InboundHandler = Inbound{}

// OnRead reserves the stack; the request is untouched.
func (Inbound) OnRead(ctx context.Context, _ net.Conn) (context.Context, error) {
	Reserve(1)
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
