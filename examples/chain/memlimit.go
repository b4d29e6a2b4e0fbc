package chain

import (
	"fmt"
	"runtime/debug"
)

// goMemLimit returns the Go soft memory limit for a container limited to
// limit bytes: percent of it, leaving the rest for what the Go runtime
// does not count (its own overhead, C allocations, the page cache charged
// to the cgroup). ok is false when there is nothing to set: no limit, or
// GOMEMLIMIT already set (gomemlimitEnv), which the runtime applied at
// start and which wins.
//
// The downward API hands a container its limit as a byte count but cannot
// scale it, so the chart passes the limit and the binary takes the
// percentage.
func goMemLimit(limit int64, percent int, gomemlimitEnv string) (soft int64, ok bool, err error) {
	if gomemlimitEnv != "" || limit <= 0 {
		return 0, false, nil
	}
	if percent <= 0 || percent > 100 {
		return 0, false, fmt.Errorf("GOMEMLIMIT percent %d: want 1 to 100", percent)
	}
	// Divide first: limit*percent overflows for limits above ~92 PB, and a
	// byte of rounding does not matter.
	return limit/100*int64(percent) + limit%100*int64(percent)/100, true, nil
}

// applyMemoryLimit sets the Go soft memory limit from c (see goMemLimit)
// and returns it, or 0 when it left the limit alone.
func applyMemoryLimit(c Config, gomemlimitEnv string) (int64, error) {
	soft, ok, err := goMemLimit(c.MemoryLimit, c.GoMemLimitPercent, gomemlimitEnv)
	if !ok {
		return 0, err
	}
	debug.SetMemoryLimit(soft)
	return soft, nil
}
