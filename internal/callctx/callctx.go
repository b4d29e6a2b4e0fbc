// Package callctx gives a Suite a per-call record that lives in the call's
// context at the cost of one allocation: the record is a field of the
// context node itself, where context.WithValue plus a separately allocated
// record would be two. Kitex runs every traced call through this, so the
// saving is per RPC.
package callctx

import "context"

// node is a context holding one record of type T under key (and, if alias
// is set, under alias too).
type node[T any] struct {
	context.Context
	key, alias any
	rec        T
}

func (n *node[T]) Value(key any) any {
	if key == n.key || (n.alias != nil && key == n.alias) {
		return &n.rec
	}
	return n.Context.Value(key)
}

// With returns a child of ctx holding a zero T under key, and a pointer to
// it. key must be comparable and unique to the caller (an unexported type).
func With[T any](ctx context.Context, key any) (context.Context, *T) {
	n := &node[T]{Context: ctx, key: key}
	return n, &n.rec
}

// WithAlias is With where the record also answers a second key, such as a
// key another module looks an interface up by.
func WithAlias[T any](ctx context.Context, key, alias any) (context.Context, *T) {
	n := &node[T]{Context: ctx, key: key, alias: alias}
	return n, &n.rec
}

// From returns the record stored under key by With, or nil.
func From[T any](ctx context.Context, key any) *T {
	r, _ := ctx.Value(key).(*T)
	return r
}
