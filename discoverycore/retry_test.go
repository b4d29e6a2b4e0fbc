package discoverycore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/codes"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/status"
)

func TestNeverSent(t *testing.T) {
	draining := status.Err(codes.Unavailable, drainingMessage)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"draining stream", draining, true},
		{"as Kitex wraps it", kerrors.ErrRemoteOrNetwork.WithCause(draining), true},
		{"wrapped again", fmt.Errorf("orders: %w", kerrors.ErrRemoteOrNetwork.WithCause(draining)), true},
		{"other unavailable", status.Err(codes.Unavailable, "transport is closing"), false},
		{"deadline", status.Err(codes.DeadlineExceeded, drainingMessage), false},
		{"timeout", kerrors.ErrRPCTimeout, false},
		{"plain error", errors.New(drainingMessage), false},
		{"nil", nil, false},
	} {
		if got := NeverSent(tc.err); got != tc.want {
			t.Errorf("%s: NeverSent(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
