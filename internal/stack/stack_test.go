package stack

import (
	"context"
	"testing"
)

func TestInboundPassesTheContextThrough(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, 1)
	h := Inbound{Owner: "test"}
	got, err := h.OnRead(ctx, nil)
	if err != nil || got != ctx {
		t.Fatalf("OnRead = %v, %v; want the same context and no error", got, err)
	}
	deep := Inbound{Owner: "test", Hint: new(Hint)}
	deep.Hint.SetDeep()
	if got, err := deep.OnRead(ctx, nil); err != nil || got != ctx || !deep.Hint.Deep() {
		t.Fatalf("deep OnRead = %v, %v", got, err)
	}
	if got, err := h.OnActive(ctx, nil); err != nil || got != ctx {
		t.Fatalf("OnActive = %v, %v", got, err)
	}
	if got := h.OnInactive(ctx, nil); got != ctx {
		t.Fatalf("OnInactive = %v", got)
	}
	if got, err := h.OnMessage(ctx, nil, nil); err != nil || got != ctx {
		t.Fatalf("OnMessage = %v, %v", got, err)
	}
}

// deep recurses n frames of about 128 bytes each, as a request's call chain
// does, and returns something derived from every frame.
//
//go:noinline
func deep(n int) int {
	var pad [96]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return int(pad[0])
	}
	return deep(n-1) + int(pad[(n+1)%len(pad)])
}

// BenchmarkFreshGoroutine runs, per op, a fresh goroutine that goes about
// 40 frames (5 KiB) deep, as Kitex's request goroutines do, with and
// without a Reserve near its top.
func BenchmarkFreshGoroutine(b *testing.B) {
	for _, c := range []struct {
		name    string
		reserve bool
	}{{"grow_on_demand", false}, {"reserve_first", true}} {
		b.Run(c.name, func(b *testing.B) {
			done := make(chan int)
			for b.Loop() {
				go func() {
					if c.reserve {
						Reserve(1)
					}
					done <- deep(40)
				}()
				<-done
			}
		})
	}
}
