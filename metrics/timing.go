package metrics

import (
	"context"
	"time"

	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/stats"

	"github.com/kitexsuite/suite/internal/callctx"
	"github.com/kitexsuite/suite/rpcmodel"
)

// Kitex times a call with its RPCStart and RPCFinish events, recorded only
// at stats level Base or above. The Suites ask for Base, but an option
// given after them (WithStatsLevel(stats.LevelDisabled)) wins; the call
// then has no times, and the Suite takes its own.

// startRecord is the Suite's own start time of a call Kitex does not time.
type startRecord struct{ at time.Time }

type startKey struct{}

// markStart records the start of a call Kitex does not time, in ctx. Kitex
// has recorded RPCStart, or not, before any tracer starts; a timed call (the
// common case) costs a look at the event and no allocation.
func markStart(ctx context.Context, ri rpcinfo.RPCInfo) context.Context {
	if st := ri.Stats(); st != nil && st.GetEvent(stats.RPCStart) != nil {
		return ctx
	}
	if callctx.From[startRecord](ctx, startKey{}) != nil {
		return ctx // another metrics Suite on this server or client took it
	}
	ctx, rec := callctx.With[startRecord](ctx, startKey{})
	rec.at = time.Now()
	return ctx
}

// timeUntimed gives call the Suite's own times where Kitex recorded none:
// the start markStart took, and now as the end.
func timeUntimed(ctx context.Context, call *rpcmodel.Call) {
	if call.Start.IsZero() {
		if rec := callctx.From[startRecord](ctx, startKey{}); rec != nil {
			call.Start = rec.at
		}
	}
	if call.End.IsZero() && !call.Start.IsZero() {
		call.End = time.Now()
	}
}

// callDuration is the call's duration, and false when it is unknown (no
// start time: never recorded as 0).
func callDuration(call *rpcmodel.Call) (time.Duration, bool) {
	if call.Start.IsZero() || call.End.IsZero() {
		return 0, false
	}
	return call.End.Sub(call.Start), true
}
