package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/registry"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitexsuite/suite/discoverycore"
)

var (
	// ErrInvalidInfo is returned (wrapped) by Register and Deregister for
	// registry.Info they cannot store.
	ErrInvalidInfo = errors.New("kitexsuite/etcd: invalid registry info")
	// ErrInvalidConfig is returned (wrapped) by Register when an option was
	// given a value the registry cannot use: a WithTTL below the cluster's
	// minimum lease TTL, which etcd would silently raise.
	ErrInvalidConfig = errors.New("kitexsuite/etcd: invalid registry option")
)

// Registry is a Kitex registry.Registry (for server.WithRegistry) keeping
// each registration alive under a lease, healing it when it is lost, and
// draining on Deregister.
type Registry struct {
	cli *clientv3.Client
	cfg config

	mu   sync.Mutex
	regs map[string]*registration // by registrationKey
}

var _ registry.Registry = (*Registry)(nil)

// NewRegistry returns a registry writing through cli. TLS and
// username/password are configured on cli (clientv3.Config), not here.
//
// A nil client panics here, at once, with a message saying so: a
// programmer error caught at startup, never a nil dereference later in a
// background goroutine.
func NewRegistry(cli *clientv3.Client, opts ...Option) *Registry {
	if cli == nil {
		panic("kitexsuite/registry/etcd: NewRegistry needs a *clientv3.Client, got nil")
	}
	return &Registry{cli: cli, cfg: newConfig(opts), regs: map[string]*registration{}}
}

// registration is one service instance, held by a discoverycore.Keeper.
type registration struct {
	service string
	name    string   // service@addr, for logs
	keys    []string // ours, and registry-etcd's with WithContribLayoutWrite
	value   string

	keeper *discoverycore.Keeper

	mu    sync.Mutex
	lease clientv3.LeaseID // current lease, 0 when none
}

// Register implements registry.Registry. It writes the instance under a
// fresh lease and returns, and keeps it there until Deregister through
// discoverycore.Keep, the failure policy all three registries share: a
// permanent error — a refused permission (a role that may write the key
// but not read it: the registry watches its own key), an untrusted TLS
// certificate, a TTL below the cluster's minimum — is returned (wrapping
// discoverycore.ErrPermanent) and nothing is retried; an unreachable etcd
// is logged once and retried in the background, as is a registration lost
// later (lease expired, key deleted, etcd restarted): a server must not
// fail to start, nor stay unlisted, because etcd blinked.
func (r *Registry) Register(info *registry.Info) error {
	reg, err := r.newRegistration(info)
	if err != nil {
		return err
	}
	key := registrationKey(info)
	r.mu.Lock()
	if _, dup := r.regs[key]; dup {
		r.mu.Unlock()
		return fmt.Errorf("%w: %s is already registered", ErrInvalidInfo, reg.name)
	}
	r.regs[key] = reg
	r.mu.Unlock()

	reg.keeper, err = discoverycore.Keep(discoverycore.KeepConfig{
		System: "etcd", Service: reg.service, Name: reg.name, Stable: r.cfg.ttl, Options: r.cfg.core,
	}, func(ctx context.Context) (func() error, error) { return r.grant(ctx, reg) })
	if err != nil {
		r.mu.Lock()
		delete(r.regs, key)
		r.mu.Unlock()
		return fmt.Errorf("kitexsuite/etcd: register %s: %w", reg.name, err)
	}
	return nil
}

// Deregister implements registry.Registry: it stops keeping the
// registration, revokes its lease so the key vanishes at once, then waits
// the drain delay so clients stop sending before Kitex closes the listener.
func (r *Registry) Deregister(info *registry.Info) error {
	if info == nil || info.Addr == nil {
		return fmt.Errorf("%w: need a service name and an address", ErrInvalidInfo)
	}
	r.mu.Lock()
	reg := r.regs[registrationKey(info)]
	delete(r.regs, registrationKey(info))
	r.mu.Unlock()
	if reg == nil {
		return fmt.Errorf("%w: %s at %s is not registered", ErrInvalidInfo, info.ServiceName, info.Addr)
	}
	reg.keeper.Stop()
	err := r.remove(reg)
	if r.cfg.drain > 0 {
		time.Sleep(r.cfg.drain) // a deliberate grace period, not synchronisation
	}
	return err
}

// registrationKey identifies a registration by what Kitex passes to both
// Register and Deregister — the listen address — rather than by the
// advertised address, which can change in between (DHCP, an interface
// going down) when the listen host is unspecified.
func registrationKey(info *registry.Info) string {
	return info.ServiceName + "@" + info.Addr.Network() + ":" + info.Addr.String()
}

// remove revokes the registration's lease, or deletes its keys when the
// lease is already gone.
func (r *Registry) remove(reg *registration) error {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	reg.mu.Lock()
	lease := reg.lease
	reg.mu.Unlock()
	if lease != 0 {
		if _, err := r.cli.Revoke(ctx, lease); err == nil {
			return nil
		}
	}
	ops := make([]clientv3.Op, len(reg.keys))
	for i, k := range reg.keys {
		ops[i] = clientv3.OpDelete(k)
	}
	if _, err := r.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("kitexsuite/etcd: deregister %s: %w", reg.name, err)
	}
	return nil
}

func (r *Registry) newRegistration(info *registry.Info) (*registration, error) {
	if info == nil || info.ServiceName == "" || info.Addr == nil {
		return nil, fmt.Errorf("%w: need a service name and an address", ErrInvalidInfo)
	}
	if strings.ContainsAny(info.ServiceName, "/") {
		return nil, fmt.Errorf("%w: service name %q contains '/'", ErrInvalidInfo, info.ServiceName)
	}
	addr, err := discoverycore.AdvertisedAddr(info.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInfo, err)
	}
	started := info.StartTime
	if started.IsZero() {
		started = time.Now()
	}
	rec := record{Network: info.Addr.Network(), Address: addr, Weight: info.Weight, Tags: info.Tags, StartTime: &started}
	if info.WarmUp > 0 {
		rec.WarmUp = info.WarmUp.String()
	}
	value, err := encode(rec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInfo, err)
	}
	reg := &registration{service: info.ServiceName, name: info.ServiceName + "@" + addr, value: value}
	reg.keys = append(reg.keys, instanceKey(r.cfg.prefix, info.ServiceName, addr))
	if r.cfg.contribWrite && r.cfg.prefix != ContribPrefix {
		reg.keys = append(reg.keys, instanceKey(ContribPrefix, info.ServiceName, addr))
	}
	return reg, nil
}

// grant writes reg's keys under a new lease, starts its keepalive and the
// watches of its own keys, and returns a hold that blocks until the
// registration is lost (and says why) or ctx ends.
func (r *Registry) grant(ctx context.Context, reg *registration) (hold func() error, err error) {
	reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	ttl := int64((r.cfg.ttl + time.Second - 1) / time.Second)
	lease, err := r.cli.Grant(reqCtx, ttl)
	if err != nil {
		return nil, classify(fmt.Errorf("grant lease: %w", err))
	}
	if lease.TTL > ttl { // the cluster raised it to its minimum
		r.revoke(lease.ID)
		return nil, discoverycore.Permanent(fmt.Errorf("%w: WithTTL(%v) is below this etcd cluster's minimum lease TTL %ds", ErrInvalidConfig, r.cfg.ttl, lease.TTL))
	}
	ops := make([]clientv3.Op, len(reg.keys))
	for i, k := range reg.keys {
		ops[i] = clientv3.OpPut(k, reg.value, clientv3.WithLease(lease.ID))
	}
	resp, err := r.cli.Txn(reqCtx).Then(ops...).Commit()
	if err != nil {
		r.revoke(lease.ID)
		return nil, classify(fmt.Errorf("put %s: %w", reg.keys[0], err))
	}
	reg.mu.Lock()
	old := reg.lease
	reg.lease = lease.ID
	reg.mu.Unlock()
	if old != 0 { // a lease that outlived an etcd restart holds nothing now
		r.revoke(old)
	}

	holdCtx, stop := context.WithCancel(ctx)
	alive, err := r.cli.KeepAlive(holdCtx, lease.ID)
	if err != nil {
		stop()
		return nil, classify(fmt.Errorf("keep lease alive: %w", err))
	}
	// Watch our own keys: an operator deleting one, or any other writer
	// taking it over, must not go unnoticed while the lease is healthy.
	// Each watch starts at the put's revision (not beyond it, which would
	// hold back progress answers on the client's stream) and asks for
	// progress notifications, so that a watch resumed after a member
	// restart starts from a recent revision rather than a compacted one.
	watches := make([]clientv3.WatchChan, len(reg.keys))
	for i, k := range reg.keys {
		if watches[i], err = r.watchKey(holdCtx, k, resp.Header.Revision); err != nil {
			stop()
			r.revoke(lease.ID)
			return nil, err
		}
	}
	return func() error {
		defer stop()
		return r.hold(holdCtx, reg, lease.ID, alive, watches)
	}, nil
}

// watchKey opens the watch of one of the registration's keys and waits
// until etcd has accepted it: a role that may write the key but not read
// it is refused here, once, rather than at every hold.
func (r *Registry) watchKey(ctx context.Context, key string, rev int64) (clientv3.WatchChan, error) {
	w := r.cli.Watch(ctx, key, clientv3.WithRev(rev), clientv3.WithProgressNotify(), clientv3.WithCreatedNotify())
	t := time.NewTimer(requestTimeout)
	defer t.Stop()
	select {
	case resp, ok := <-w:
		if !ok {
			return nil, fmt.Errorf("watch %s: closed before it started", key)
		}
		if err := resp.Err(); err != nil {
			return nil, classify(fmt.Errorf("watch %s (the registry watches its own key: the etcd role needs read on it besides write): %w", key, err))
		}
		return w, nil
	case <-t.C:
		return nil, fmt.Errorf("watch %s: not started within %v", key, requestTimeout)
	}
}

// classify marks the errors no retry can fix as permanent: a refused
// permission or authentication, and a TLS certificate this client does not
// trust (gRPC reports those as unavailable, with the handshake's error in
// the message).
func classify(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, e := range []error{rpctypes.ErrPermissionDenied, rpctypes.ErrAuthFailed, rpctypes.ErrUserEmpty, rpctypes.ErrUserNotFound} {
		if errors.Is(err, e) || strings.Contains(msg, e.Error()) {
			return discoverycore.Permanent(err)
		}
	}
	if strings.Contains(msg, "x509:") || strings.Contains(msg, "tls: ") {
		return discoverycore.Permanent(err)
	}
	return err
}

func (r *Registry) hold(ctx context.Context, reg *registration, lease clientv3.LeaseID, alive <-chan *clientv3.LeaseKeepAliveResponse, watches []clientv3.WatchChan) error {
	merged := make(chan error, len(watches))
	for i, w := range watches {
		go func() { merged <- r.follow(ctx, reg.keys[i], lease, w) }()
	}
	for {
		select {
		case _, ok := <-alive:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("lease keepalive ended: lease expired or etcd unreachable for its TTL")
			}
		case why := <-merged:
			return why
		case <-ctx.Done():
			return nil
		}
	}
}

// follow watches one of the registration's keys until it is deleted or
// taken over (returning why), or ctx ends (nil). A watch that ends
// otherwise is not a loss — it resumed past a compacted revision after a
// member restart, or a member lost its leader ("leader changed") — so the
// key is read again (retried with backoff while etcd cannot answer: the
// lease's keepalive, not this watch, says when the lease is gone) and,
// when it is still ours, watched from that read on.
func (r *Registry) follow(ctx context.Context, key string, lease clientv3.LeaseID, w clientv3.WatchChan) error {
	bo := discoverycore.Backoff{Min: 100 * time.Millisecond, Max: 2 * time.Second}
	for {
		ended := "the watch closed"
		for resp := range w {
			if resp.CompactRevision != 0 {
				ended = "resumed past a compaction"
				break
			}
			if err := resp.Err(); err != nil {
				ended = err.Error()
				break
			}
			for _, ev := range resp.Events {
				switch {
				case ev.Type == mvccpb.DELETE:
					return fmt.Errorf("key %s was deleted", ev.Kv.Key)
				case clientv3.LeaseID(ev.Kv.Lease) != lease:
					return fmt.Errorf("key %s was overwritten", ev.Kv.Key)
				}
			}
		}
		var got *clientv3.GetResponse
		for got == nil {
			if ctx.Err() != nil {
				return nil
			}
			reqCtx, cancel := context.WithTimeout(ctx, requestTimeout)
			resp, err := r.cli.Get(reqCtx, key)
			cancel()
			switch {
			case ctx.Err() != nil:
				return nil
			case err == nil:
				got = resp
			case errors.Is(classify(err), discoverycore.ErrPermanent):
				return fmt.Errorf("reading the key again after its watch ended (%s) was refused: %w", ended, err)
			case !discoverycore.Sleep(ctx, bo.Next()):
				return nil
			}
		}
		switch {
		case len(got.Kvs) == 0:
			return fmt.Errorf("key %s was deleted (seen after its watch ended: %s)", key, ended)
		case clientv3.LeaseID(got.Kvs[0].Lease) != lease:
			return fmt.Errorf("key %s was overwritten (seen after its watch ended: %s)", key, ended)
		}
		klog.Infof("kitexsuite/etcd: the watch of %s ended (%s); the key is still this registration's, watching it again", key, ended)
		w = r.cli.Watch(ctx, key, clientv3.WithRev(got.Header.Revision), clientv3.WithProgressNotify())
	}
}

// revoke drops a lease in the background of a healthy path; failure only
// means etcd lets it expire on its own.
func (r *Registry) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = r.cli.Revoke(ctx, id)
}
