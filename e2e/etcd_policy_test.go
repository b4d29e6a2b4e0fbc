package e2e

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/registry"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/e2e/harness"
	"github.com/kitexsuite/suite/registry/etcd"
)

// enableAuth turns on etcd authentication with a root user and a user
// "writer" whose role may write under prefix but not read it, and returns
// the root client and a client logged in as writer.
func enableAuth(t *testing.T, srv *harness.Etcd, prefix string) (root, writer *clientv3.Client) {
	t.Helper()
	admin := srv.Client(t)
	ctx := deadline(t, 10*time.Second)
	steps := []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "writer"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "writer", prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermWrite))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "writer", "writerpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "writer", "writer"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	login := func(user, pw string) *clientv3.Client {
		c, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), Username: user, Password: pw, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	return login("root", "rootpw"), login("writer", "writerpw")
}

func revisionOf(t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	resp, err := cli.Get(deadline(t, 5*time.Second), "any")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// TestEtcdWriteOnlyRoleFailsRegister gives the registry a user that may
// write its key but not read (so not watch) it: Register fails at once
// with a permanent error saying what the role lacks, and nothing is left
// retrying — exactly one put and one revoke reach etcd, where the old
// registry looped grant/put/revoke without backoff (20 revisions in 2 s).
func TestEtcdWriteOnlyRoleFailsRegister(t *testing.T) {
	srv := harness.StartEtcd(t)
	root, writer := enableAuth(t, srv, etcd.DefaultPrefix+"/")
	reg := etcd.NewRegistry(writer, etcd.WithDrainDelay(0))
	before := revisionOf(t, root)
	err := reg.Register(&registry.Info{ServiceName: "echo", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}})
	t.Logf("Register: %v", err)
	if !errors.Is(err, discoverycore.ErrPermanent) || !strings.Contains(err.Error(), "needs read on it") {
		t.Fatalf("Register with a write-only role: %v; want a permanent error naming the missing read permission", err)
	}
	// A window to see that nothing retries: the measurement, not a wait
	// for something to happen.
	time.Sleep(2 * time.Second)
	if n := revisionOf(t, root) - before; n != 2 {
		t.Fatalf("%d revisions after a refused Register, want 2 (its one put, and the revoke that removed it)", n)
	}
	if keys := keysUnder(t, root, etcd.DefaultPrefix+"/"); len(keys) != 0 {
		t.Fatalf("keys left behind: %v", keys)
	}
}

// TestEtcdCompactionDoesNotReGrant cuts the registry's client off, writes
// and compacts past its own-key watch's revision, then heals: the resumed
// watch is told its revision is gone, and the registry reads its key again
// instead of granting a new lease — the registration is untouched.
func TestEtcdCompactionDoesNotReGrant(t *testing.T) {
	var logs syncBuffer
	klog.SetOutput(&logs)
	defer klog.SetOutput(os.Stderr)
	klog.SetLevel(klog.LevelInfo) // the recovery is logged at Info
	defer klog.SetLevel(klog.LevelWarn)

	srv := harness.StartEtcd(t)
	admin := srv.Client(t)
	proxy := harness.StartProxy(t, strings.TrimPrefix(srv.Endpoints()[0], "http://"))
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{proxy.URL()}, DialTimeout: 5 * time.Second,
		DialOptions: []grpc.DialOption{harness.ReconnectQuickly()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	reg := etcd.NewRegistry(cli, etcd.WithDrainDelay(0)) // 10 s TTL: the cut is far shorter
	info := &registry.Info{ServiceName: "echo", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}}
	if err := reg.Register(info); err != nil {
		t.Fatal(err)
	}
	key := etcd.DefaultPrefix + "/echo/127.0.0.1:9"
	lease := leaseOf(t, admin, key)
	if lease == 0 {
		t.Fatal("not registered")
	}

	proxy.Block()
	for range 5 {
		if _, err := admin.Put(deadline(t, 5*time.Second), "unrelated", "x"); err != nil {
			t.Fatal(err)
		}
	}
	srv.Compact(t)
	proxy.Unblock()
	start := time.Now()
	for !strings.Contains(logs.String(), "resumed past a compaction") && !strings.Contains(logs.String(), "lost (") {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("the registry's watch did not resume within 15 s:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(logs.String(), "lost (") {
		t.Fatalf("the registration was treated as lost after a compaction:\n%s", logs.String())
	}
	if got := leaseOf(t, admin, key); got != lease {
		t.Fatalf("key held by lease %x after the compaction, want the original %x (re-granted needlessly)", got, lease)
	}
	if err := reg.Deregister(info); err != nil {
		t.Fatal(err)
	}
}
