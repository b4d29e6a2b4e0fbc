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
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitexsuite/suite/discoverycore"
)

// ErrInvalidInfo is returned (wrapped) by Register and Deregister for
// registry.Info they cannot store.
var ErrInvalidInfo = errors.New("kitexsuite/etcd: invalid registry info")

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

// registration is one service instance kept alive by its own goroutine.
type registration struct {
	name  string   // service@addr, for logs
	keys  []string // ours, and registry-etcd's with WithContribLayoutWrite
	value string

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	lease clientv3.LeaseID // current lease, 0 when none
}

// Register implements registry.Registry. It writes the instance under a
// fresh lease and returns; if etcd cannot be reached it logs once and keeps
// trying in the background, as it does whenever the registration is lost
// later (lease expired, key deleted, etcd restarted): a server must not fail
// to start, nor stay unlisted, because etcd blinked.
func (r *Registry) Register(info *registry.Info) error {
	reg, err := r.newRegistration(info)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if _, dup := r.regs[registrationKey(info)]; dup {
		r.mu.Unlock()
		return fmt.Errorf("%w: %s is already registered", ErrInvalidInfo, reg.name)
	}
	r.regs[registrationKey(info)] = reg
	r.mu.Unlock()

	first := make(chan error, 1)
	go r.keep(reg, first)
	if err := <-first; err != nil {
		klog.Warnf("kitexsuite/etcd: registering %s failed, retrying in the background: %v", reg.name, err)
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
	var err error
	reg.cancel()
	<-reg.done
	err = r.remove(reg)
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
	reg := &registration{name: info.ServiceName + "@" + addr, value: value, done: make(chan struct{})}
	reg.keys = append(reg.keys, instanceKey(r.cfg.prefix, info.ServiceName, addr))
	if r.cfg.contribWrite && r.cfg.prefix != ContribPrefix {
		reg.keys = append(reg.keys, instanceKey(ContribPrefix, info.ServiceName, addr))
	}
	reg.ctx, reg.cancel = context.WithCancel(context.Background())
	return reg, nil
}

// keep registers reg and holds the registration until Deregister, starting
// over with backoff whenever it is lost. first receives the outcome of the
// first attempt.
func (r *Registry) keep(reg *registration, first chan<- error) {
	defer close(reg.done)
	bo := discoverycore.Backoff{Min: 200 * time.Millisecond, Max: 3 * time.Second}
	failing, contested := false, false
	for attempt := 0; ; attempt++ {
		hold, err := r.grant(reg)
		if attempt == 0 {
			first <- err
		}
		if err != nil {
			if reg.ctx.Err() != nil {
				return
			}
			if !failing && attempt > 0 {
				klog.Warnf("kitexsuite/etcd: registering %s again failed, retrying with backoff: %v", reg.name, err)
			}
			failing = true
			if !discoverycore.Sleep(reg.ctx, bo.Next()) {
				return
			}
			continue
		}
		if attempt > 0 {
			klog.Infof("kitexsuite/etcd: %s registered again", reg.name)
		}
		failing = false
		if !contested {
			bo.Reset()
		}
		why := hold()
		if reg.ctx.Err() != nil {
			return
		}
		klog.Warnf("kitexsuite/etcd: registration of %s lost (%s); registering again", reg.name, why)
		// Another writer of the same key (a second process advertising this
		// address) would otherwise make both rewrite it in a tight loop.
		contested = strings.HasSuffix(why, "was overwritten")
		if contested && !discoverycore.Sleep(reg.ctx, bo.Next()) {
			return
		}
	}
}

// grant writes reg's keys under a new lease and returns a function that
// blocks until the registration is lost (and says why) or reg is stopped.
func (r *Registry) grant(reg *registration) (hold func() string, err error) {
	ctx, cancel := context.WithTimeout(reg.ctx, requestTimeout)
	defer cancel()
	lease, err := r.cli.Grant(ctx, int64((r.cfg.ttl+time.Second-1)/time.Second))
	if err != nil {
		return nil, fmt.Errorf("grant lease: %w", err)
	}
	ops := make([]clientv3.Op, len(reg.keys))
	for i, k := range reg.keys {
		ops[i] = clientv3.OpPut(k, reg.value, clientv3.WithLease(lease.ID))
	}
	resp, err := r.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		r.revoke(lease.ID)
		return nil, fmt.Errorf("put %s: %w", reg.keys[0], err)
	}
	reg.mu.Lock()
	old := reg.lease
	reg.lease = lease.ID
	reg.mu.Unlock()
	if old != 0 { // a lease that outlived an etcd restart holds nothing now
		r.revoke(old)
	}

	holdCtx, stop := context.WithCancel(reg.ctx)
	alive, err := r.cli.KeepAlive(holdCtx, lease.ID)
	if err != nil {
		stop()
		return nil, fmt.Errorf("keep lease alive: %w", err)
	}
	// Watch our own keys: an operator deleting one, or any other writer
	// taking it over, must not go unnoticed while the lease is healthy.
	watches := make([]clientv3.WatchChan, len(reg.keys))
	for i, k := range reg.keys {
		watches[i] = r.cli.Watch(holdCtx, k, clientv3.WithRev(resp.Header.Revision+1))
	}
	return func() string {
		defer stop()
		return r.hold(holdCtx, lease.ID, alive, watches)
	}, nil
}

func (r *Registry) hold(ctx context.Context, lease clientv3.LeaseID, alive <-chan *clientv3.LeaseKeepAliveResponse, watches []clientv3.WatchChan) string {
	merged := make(chan string, len(watches))
	for _, w := range watches {
		go func() {
			for resp := range w {
				if err := resp.Err(); err != nil {
					merged <- "watch of the key failed: " + err.Error()
					return
				}
				for _, ev := range resp.Events {
					switch {
					case ev.Type == mvccpb.DELETE:
						merged <- "key " + string(ev.Kv.Key) + " was deleted"
						return
					case clientv3.LeaseID(ev.Kv.Lease) != lease:
						merged <- "key " + string(ev.Kv.Key) + " was overwritten"
						return
					}
				}
			}
		}()
	}
	for {
		select {
		case _, ok := <-alive:
			if !ok {
				return "lease keepalive ended: lease expired or etcd unreachable for its TTL"
			}
		case why := <-merged:
			return why
		case <-ctx.Done():
			return "stopped"
		}
	}
}

// revoke drops a lease in the background of a healthy path; failure only
// means etcd lets it expire on its own.
func (r *Registry) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = r.cli.Revoke(ctx, id)
}
