package etcd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/klog"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitexsuite/suite/discoverycore"
)

// NewResolver returns a Kitex resolver (for client.WithResolver) that
// lists each target once, then watches it from the revision of that list
// and serves Resolve from the shared in-memory snapshot. TLS and
// username/password are configured on cli (clientv3.Config), not here.
// Close the resolver at shutdown to stop its watches.
//
// A nil client panics here, at once, with a message saying so: a
// programmer error caught at startup, never a nil dereference later in a
// background goroutine.
func NewResolver(cli *clientv3.Client, opts ...Option) *discoverycore.Resolver {
	if cli == nil {
		panic("kitexsuite/registry/etcd: NewResolver needs a *clientv3.Client, got nil")
	}
	cfg := newConfig(opts)
	src := &source{cli: cli, maxValue: cfg.maxValue, progress: cfg.progress, prefixes: []string{cfg.prefix}}
	if cfg.contribRead && cfg.prefix != ContribPrefix {
		src.prefixes = append(src.prefixes, ContribPrefix)
	}
	// The name says what the resolver reads (for Kitex's debug output);
	// discoverycore adds a number unique to the resolver, since Kitex
	// caches balancers by resolver name.
	src.name = fmt.Sprintf("kitexsuite-etcd(%s;%s;%p)", strings.Join(cli.Endpoints(), ","), strings.Join(src.prefixes, "+"), cli)
	core := append([]discoverycore.Option{discoverycore.WithSystem("etcd")}, cfg.core...)
	return discoverycore.NewResolver(src, core...)
}

// source is the etcd side of a resolver: one Get, then one Watch per prefix.
type source struct {
	cli      *clientv3.Client
	name     string
	prefixes []string // ours first: where both list an address, ours wins
	maxValue int
	progress time.Duration

	// lastProgress is when a watch of this source last asked etcd for
	// progress (UnixNano): one request per interval serves every target,
	// since etcd answers it to every watch on the client's stream.
	lastProgress atomic.Int64

	logged discoverycore.LogOnce // malformed key -> mod revision logged
}

func (s *source) Name() string { return s.name }

// Watch implements discoverycore.Source.
func (s *source) Watch(ctx context.Context, target string, sink discoverycore.Sink) error {
	if s.cli.Ctx().Err() != nil {
		return discoverycore.ErrSourceClosed
	}
	// Require a leader so a member cut off from its cluster breaks the
	// watch instead of silently serving a stale view.
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()

	byPrefix := make([]map[string]discovery.Instance, len(s.prefixes))
	listed := make([]int64, len(s.prefixes)) // the revision each list saw
	chans := make([]clientv3.WatchChan, 2)   // a nil channel never fires
	for i, p := range s.prefixes {
		keyPrefix := serviceKeyPrefix(p, target)
		resp, err := s.cli.Get(ctx, keyPrefix, clientv3.WithPrefix())
		if err != nil {
			return s.wrap(fmt.Errorf("list %s: %w", keyPrefix, err))
		}
		byPrefix[i] = make(map[string]discovery.Instance, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			s.put(byPrefix[i], kv)
		}
		// Watch from the list's own revision, not the next one: etcd answers
		// a progress request only when no watch on the stream starts beyond
		// its current revision, so a watch from rev+1 on a quiet cluster
		// would hold back every progress answer until an unrelated write.
		// Events of that revision are already in the list and are skipped.
		listed[i] = resp.Header.Revision
		chans[i] = s.cli.Watch(ctx, keyPrefix, clientv3.WithPrefix(),
			clientv3.WithRev(resp.Header.Revision), clientv3.WithProgressNotify())
	}
	sink.Set(merge(byPrefix))

	progress := time.NewTicker(s.progress)
	defer progress.Stop()
	// A member that stops answering without breaking the stream (one slow
	// to shut down, still the leader, an overloaded one) would leave the
	// watch silent: after stallAfter without any answer — events or
	// progress — the watch restarts, on another member as the client's
	// balancer picks one.
	stallAfter := max(3*s.progress, 3*time.Second)
	heard := time.Now()
	for {
		var (
			resp clientv3.WatchResponse
			ok   bool
			i    int
		)
		select {
		case resp, ok = <-chans[0]:
		case resp, ok = <-chans[1]:
			i = 1
		case <-progress.C:
			if silent := time.Since(heard); silent > stallAfter {
				return s.wrap(fmt.Errorf("no answer from etcd for %v (progress requested every %v)", silent.Round(time.Millisecond), s.progress))
			}
			// The answer arrives on the watch channels as a progress
			// notification; a failed request shows as a growing sync age.
			if s.progressDue() {
				_ = s.cli.RequestProgress(ctx)
			}
			continue
		}
		if !ok {
			return s.wrap(errors.New("watch channel closed"))
		}
		heard = time.Now()
		if err := resp.Err(); err != nil {
			if resp.CompactRevision != 0 {
				return fmt.Errorf("revision %d was compacted: %w", resp.CompactRevision, discoverycore.ErrResync)
			}
			return s.wrap(err)
		}
		if resp.IsProgressNotify() {
			sink.Alive()
			continue
		}
		changed := false
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision <= listed[i] {
				continue // already in the list
			}
			changed = true
			if ev.Type == mvccpb.DELETE {
				delete(byPrefix[i], string(ev.Kv.Key))
				s.forget(string(ev.Kv.Key))
				continue
			}
			s.put(byPrefix[i], ev.Kv)
		}
		if changed {
			sink.Set(merge(byPrefix))
		}
	}
}

// progressDue reports whether this watch should send the source's progress
// request now: every target has its own ticker, but one request per
// interval (less a tenth, for ticker jitter) answers them all; N requests
// would notify every one of the N watches N times.
func (s *source) progressDue() bool {
	now := time.Now().UnixNano()
	last := s.lastProgress.Load()
	if now-last < int64(s.progress)*9/10 {
		return false
	}
	return s.lastProgress.CompareAndSwap(last, now)
}

// wrap marks errors caused by a closed client, which end the watch for good.
func (s *source) wrap(err error) error {
	if s.cli.Ctx().Err() != nil {
		return fmt.Errorf("%w: %w", discoverycore.ErrSourceClosed, err)
	}
	return err
}

// put decodes kv into set, or drops it from set and logs it once per
// revision when it is not a valid instance.
func (s *source) put(set map[string]discovery.Instance, kv *mvccpb.KeyValue) {
	key := string(kv.Key)
	ins, err := decode(key, kv.Value, s.maxValue)
	if err == nil {
		set[key] = ins
		s.forget(key)
		return
	}
	delete(set, key)
	if s.logged.First(key, strconv.FormatInt(kv.ModRevision, 10)) {
		klog.Warnf("%v", err)
	}
}

func (s *source) forget(key string) { s.logged.Forget(key) }

// merge flattens the per-prefix sets into one snapshot, one instance per
// address, the first prefix winning.
func merge(byPrefix []map[string]discovery.Instance) []discovery.Instance {
	n := 0
	for _, m := range byPrefix {
		n += len(m)
	}
	out := make([]discovery.Instance, 0, n)
	if len(byPrefix) == 1 {
		for _, ins := range byPrefix[0] {
			out = append(out, ins)
		}
		return out
	}
	seen := make(map[string]struct{}, n)
	for _, m := range byPrefix {
		for _, ins := range m {
			addr := ins.Address().String()
			if _, dup := seen[addr]; !dup {
				seen[addr] = struct{}{}
				out = append(out, ins)
			}
		}
	}
	return out
}
