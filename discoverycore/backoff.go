package discoverycore

import (
	"math/rand/v2"
	"time"
)

// Backoff yields growing, jittered delays between retries: each delay is
// drawn from [d/2, d] where d doubles from Min up to Max. Registries and
// watches use it to retry forever without hammering a backend that is down.
// The zero value uses 100 ms and 5 s. A Backoff is not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// bounds are Min and Max with the zero value's defaults applied.
func (b *Backoff) bounds() (lo, hi time.Duration) {
	lo, hi = b.Min, b.Max
	if lo <= 0 {
		lo = 100 * time.Millisecond
	}
	if hi < lo {
		hi = max(lo, 5*time.Second)
	}
	return lo, hi
}

// ceiling is the longest delay Next returns.
func (b *Backoff) ceiling() time.Duration {
	_, hi := b.bounds()
	return hi
}

// Next returns the delay before the next attempt.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.bounds()
	switch {
	case b.cur == 0:
		b.cur = lo
	case b.cur < hi:
		b.cur = min(2*b.cur, hi)
	}
	half := b.cur / 2
	return half + rand.N(half+1)
}

// Reset starts the delays from Min again, after a success.
func (b *Backoff) Reset() { b.cur = 0 }
