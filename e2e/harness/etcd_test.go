package harness

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakOptions()...)
}

// leakOptions ignores the goroutines the servers cannot stop.
func leakOptions() []goleak.Option {
	var opts []goleak.Option
	for _, fn := range EtcdBackgroundGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	for _, fn := range KubeBackgroundGoroutines {
		opts = append(opts, goleak.IgnoreTopFunction(fn))
	}
	return opts
}

// TestEtcdStopLeavesNoGoroutines checks that once a test's server and
// clients are cleaned up, etcd has left no goroutine running, a restarted
// server included.
func TestEtcdStopLeavesNoGoroutines(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		e := StartEtcd(t)
		cli := e.Client(t)
		if _, err := cli.Put(t.Context(), "k", "v"); err != nil {
			t.Fatal(err)
		}
		e.Stop()
		e.Restart(t)
		e.Compact(t)
	})
	goleak.VerifyNone(t, leakOptions()...)
}

// TestEtcdRestartWaitsForPort checks that Restart retries while its client
// port is still held, instead of failing at once.
func TestEtcdRestartWaitsForPort(t *testing.T) {
	e := StartEtcd(t)
	e.Stop()
	l, err := net.Listen("tcp", e.client.Host)
	if err != nil {
		t.Fatalf("hold the client port: %v", err)
	}
	if err := e.start(0); !errors.Is(err, syscall.EADDRINUSE) {
		l.Close()
		t.Fatalf("start on a held port: got error %v, want EADDRINUSE", err)
	}
	release := time.AfterFunc(200*time.Millisecond, func() { l.Close() })
	defer release.Stop()
	e.Restart(t)
	if _, err := e.Client(t).Get(t.Context(), "k"); err != nil {
		t.Fatalf("get after restart: %v", err)
	}
}
