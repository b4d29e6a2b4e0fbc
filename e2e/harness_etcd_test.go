package e2e

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitexsuite/suite/e2e/harness"
)

// TestEtcdHarnessRestartKeepsData checks that a stopped etcd refuses clients
// and that Restart brings the same data back on the same endpoint.
func TestEtcdHarnessRestartKeepsData(t *testing.T) {
	etcd := harness.StartEtcd(t)
	endpoints := etcd.Endpoints()
	cli := etcd.Client(t)
	if _, err := cli.Put(deadline(t, 5*time.Second), "/harness/k", "v"); err != nil {
		t.Fatalf("put: %v", err)
	}

	etcd.Stop()
	etcd.Stop() // idempotent
	if _, err := cli.Get(deadline(t, 500*time.Millisecond), "/harness/k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("get from a stopped etcd: got error %v, want a deadline exceeded", err)
	}

	etcd.Restart(t)
	if got := etcd.Endpoints(); !slices.Equal(got, endpoints) {
		t.Fatalf("endpoints after restart = %v, want %v", got, endpoints)
	}
	// The client made before the outage reconnects to the same URL.
	resp, err := cli.Get(deadline(t, 5*time.Second), "/harness/k")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("get after restart = %v, want /harness/k=v", resp.Kvs)
	}
}

// TestEtcdHarnessCompact checks that Compact drops the history before the
// current revision and keeps the current values.
func TestEtcdHarnessCompact(t *testing.T) {
	etcd := harness.StartEtcd(t)
	cli := etcd.Client(t)
	first, err := cli.Put(deadline(t, 5*time.Second), "/harness/k", "1")
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if _, err := cli.Put(deadline(t, 5*time.Second), "/harness/k", "2"); err != nil {
		t.Fatalf("put: %v", err)
	}

	etcd.Compact(t)
	_, err = cli.Get(deadline(t, 5*time.Second), "/harness/k", clientv3.WithRev(first.Header.Revision))
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("get at a compacted revision: got error %v, want %v", err, rpctypes.ErrCompacted)
	}
	resp, err := cli.Get(deadline(t, 5*time.Second), "/harness/k")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "2" {
		t.Fatalf("get after compact = %v, want /harness/k=2", resp.Kvs)
	}
}

// deadline returns a context that times out after d or when the test ends.
func deadline(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return c
}
