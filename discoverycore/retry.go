package discoverycore

import (
	"context"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/codes"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/status"
	"github.com/cloudwego/kitex/pkg/retry"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
)

// drainingMessage is the status message of Kitex's gRPC transport for a
// stream it refused because its connection was draining.
const drainingMessage = "the connection is draining"

// WithUnsentRetry returns a client option that retries (up to twice, on a
// fresh pick) a call that provably never reached a server: a gRPC stream
// the client transport refused because its connection was draining. That
// happens when a call picks an instance the moment the balancer drops it
// (a replica deregistering): Kitex then gracefully closes the connection
// under the call. Timeouts and every other error are not retried, so the
// option is safe for non-idempotent methods. It installs a Kitex failure
// retry policy: a later client.WithFailureRetry replaces it.
func WithUnsentRetry() client.Option {
	p := retry.NewFailurePolicyWithResultRetry(unsentOnly())
	p.WithMaxRetryTimes(2)
	return client.WithFailureRetry(p)
}

// WithUnsentRetryAndBackup is WithUnsentRetry plus a backup request: when
// the first attempt has not answered within delay, a second one goes to
// another instance (AvoidFailedInstance, which WithFastRefresh(nil, ...)
// installs, steers it away from the first attempt's), and the first answer
// wins. A replica that died with calls on it can leave a pooled connection
// whose streams wait for answers that never come until the registry drops
// the replica or the call times out; the backup answers instead. Only for
// idempotent methods: a slow call runs twice. It installs a Kitex mixed
// retry policy (at most two extra attempts), which replaces any failure
// retry or backup policy set before it.
func WithUnsentRetryAndBackup(delay time.Duration) client.Option {
	ms := uint32(max(delay.Milliseconds(), 1))
	p := retry.NewMixedPolicyWithResultRetry(ms, unsentOnly())
	p.WithMaxRetryTimes(2)
	return client.WithMixedRetry(p)
}

// unsentOnly retries only errors NeverSent recognises; never a timeout.
func unsentOnly() *retry.ShouldResultRetry {
	return &retry.ShouldResultRetry{
		NotRetryForTimeout: true,
		ErrorRetryWithCtx:  func(_ context.Context, err error, _ rpcinfo.RPCInfo) bool { return NeverSent(err) },
	}
}

// NeverSent reports whether err says the call never left the client: its
// gRPC stream was refused by a draining connection (code Unavailable,
// before any byte was written or after a GOAWAY that excluded the stream).
func NeverSent(err error) bool {
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.Unavailable && s.Message() == drainingMessage
}
