package discoverycore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/klog"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
)

// Source is one discovery backend configuration (an etcd key prefix, a
// Consul datacenter, a Kubernetes namespace, ...). Each adapter implements it.
type Source interface {
	// Name identifies the backend configuration. Sources with equal names
	// must serve the same data: Kitex caches balancers by the resolver's name.
	Name() string
	// Watch keeps target's instance set current until ctx is done. It hands
	// every complete set it learns to sink.Set (the first is the initial
	// list; an empty set means the backend has no instances), calls
	// sink.Alive when the backend confirms the set unchanged, and returns
	// when ctx is done or the watch breaks. The resolver keeps the last set
	// while a watch is broken and calls Watch again after a backoff.
	Watch(ctx context.Context, target string, sink Sink) error
}

// Sink receives what a Source's watch learns.
type Sink interface {
	// Set publishes the complete instance set. The resolver owns the slice
	// afterwards; the Source must not modify it.
	Set(instances []discovery.Instance)
	// Alive records that the backend confirmed the current set.
	Alive()
}

var (
	// ErrResync is returned (wrapped) by a Source whose view went stale, such
	// as an etcd watch whose revision was compacted: the resolver re-lists at
	// once instead of backing off.
	ErrResync = errors.New("discoverycore: watch must re-list")
	// ErrSourceClosed is returned (wrapped) by a Source whose backend client
	// was closed: the watch stops instead of retrying.
	ErrSourceClosed = errors.New("discoverycore: backend client closed")
	// ErrClosed is returned by Resolve after Resolver.Close.
	ErrClosed = errors.New("discoverycore: resolver closed")
)

// NotSyncedError is returned by Resolve when the backend has not answered
// the first list of a target yet.
type NotSyncedError struct {
	System, Target string
	// Err is why the watch has not listed yet (nil on timeout alone).
	Err error
}

func (e *NotSyncedError) Error() string {
	msg := fmt.Sprintf("kitexsuite/%s: no instance list for %q yet", e.System, e.Target)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *NotSyncedError) Unwrap() error { return e.Err }

// Resolver is a Kitex discovery.Resolver serving every target from a
// watch-fed in-memory snapshot. Create it with [NewResolver].
type Resolver struct {
	src   Source
	name  string
	cfg   config
	stats *selfMetrics

	mu      sync.RWMutex
	watches map[string]*watch
	closed  bool
	final   map[string][]discovery.Instance // last snapshots, served after Close
	idling  sync.WaitGroup                  // watches checkIdle removed and is stopping
}

var _ discovery.Resolver = (*Resolver)(nil)

// resolverSeq numbers the resolvers of the process (see Resolver.Name).
var resolverSeq atomic.Uint64

// NewResolver returns a resolver fed by src.
func NewResolver(src Source, opts ...Option) *Resolver {
	r := &Resolver{src: src, cfg: newConfig(opts), watches: map[string]*watch{}}
	r.name = src.Name() + "#" + strconv.FormatUint(resolverSeq.Add(1), 10)
	r.stats = newSelfMetrics(r)
	return r
}

// Name implements discovery.Resolver: the Source's name and a number
// unique to this resolver in the process. Kitex caches balancers (and the
// resolver behind them) process-wide by resolver name: a name shared by two
// resolvers would give a client built with a new resolver the balancer of
// an old, closed one, frozen at its last set. Clients sharing one resolver
// share its balancers, as Kitex intends; share one resolver per backend
// among a process's clients. Kitex never removes a cached balancer factory
// (lbcache has no way to): each resolver a client used keeps one, with a
// ticker goroutine, for the life of the process; a closed resolver keeps
// only its last snapshot for it.
func (r *Resolver) Name() string { return r.name }

// Target implements discovery.Resolver.
func (r *Resolver) Target(ctx context.Context, callee rpcinfo.EndpointInfo) string {
	return r.cfg.target(ctx, callee)
}

// Diff implements discovery.Resolver with [Diff].
func (r *Resolver) Diff(cacheKey string, prev, next discovery.Result) (discovery.Change, bool) {
	return Diff(cacheKey, prev, next)
}

// Resolve implements discovery.Resolver. After a target's first list it is
// a map read; the first Resolve of a target starts its watch and waits for
// the backend's answer (at most the initial sync timeout).
func (r *Resolver) Resolve(ctx context.Context, target string) (discovery.Result, error) {
	r.mu.RLock()
	w := r.watches[target]
	if w != nil && !w.used.Load() {
		w.used.Store(true)
	}
	r.mu.RUnlock()
	if w == nil {
		var err error
		if w, err = r.start(target); err != nil {
			if final, ok := r.finalSnapshot(target); ok {
				return result(target, final), nil
			}
			return discovery.Result{}, err
		}
	}
	if s := w.snap.Load(); s != nil {
		return result(target, *s), nil
	}
	timer := time.NewTimer(r.cfg.initialSync)
	defer timer.Stop()
	select {
	case <-w.answered:
	case <-timer.C:
	case <-ctx.Done():
		return discovery.Result{}, ctx.Err()
	}
	if s := w.snap.Load(); s != nil {
		return result(target, *s), nil
	}
	return discovery.Result{}, &NotSyncedError{System: r.cfg.system, Target: target, Err: w.lastErr()}
}

func result(target string, ins []discovery.Instance) discovery.Result {
	return discovery.Result{Cacheable: true, CacheKey: target, Instances: ins}
}

func (r *Resolver) start(target string) (*watch, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if w := r.watches[target]; w != nil {
		w.used.Store(true)
		return w, nil
	}
	w := &watch{r: r, target: target, done: make(chan struct{}), answered: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.used.Store(true)
	// Armed only once assigned, so checkIdle never sees a nil timer.
	w.idle = time.AfterFunc(time.Hour, w.checkIdle)
	w.idle.Reset(r.cfg.idle / 2)
	r.watches[target] = w
	go w.run()
	return w, nil
}

// Close stops every watch and waits for them. Afterwards Resolve serves
// each target's last snapshot, frozen — Kitex's balancer caches keep
// polling a resolver until they expire, and have no way to be told it
// closed — and fails with ErrClosed for targets it never listed. Use it at
// process shutdown and in tests.
func (r *Resolver) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.final = make(map[string][]discovery.Instance, len(r.watches))
	ws := make([]*watch, 0, len(r.watches))
	for target, w := range r.watches {
		ws = append(ws, w)
		if s := w.snap.Load(); s != nil {
			r.final[target] = *s
		}
	}
	clear(r.watches)
	r.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	r.idling.Wait()
	return r.stats.close()
}

func (r *Resolver) finalSnapshot(target string) ([]discovery.Instance, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.final[target]
	return s, ok
}

// remove forgets w if it is still the current watch of its target and,
// when idleOnly, nobody resolved it since the last check. current is false
// once w is no longer the target's watch (Close or an earlier removal).
func (r *Resolver) remove(w *watch, idleOnly bool) (removed, current bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watches[w.target] != w {
		return false, false
	}
	if idleOnly && w.used.Load() {
		return false, true
	}
	delete(r.watches, w.target)
	if idleOnly {
		r.idling.Add(1) // Close waits for it, though it left the map
	}
	return true, true
}

// watch is one target's watch loop and snapshot.
type watch struct {
	r      *Resolver
	target string
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	idle   *time.Timer

	used       atomic.Bool // resolved since the last idle check
	snap       atomic.Pointer[[]discovery.Instance]
	lastSync   atomic.Int64 // unix nanoseconds of the last Set or Alive
	progressed atomic.Bool  // Set or Alive since the watch last broke
	retryDelay atomic.Int64 // the last pause before re-watching, ns (tests read it)

	answered   chan struct{} // closed at the first Set or failure
	answerOnce sync.Once

	mu  sync.Mutex
	err error // why the watch is broken; nil while healthy
}

func (w *watch) run() {
	defer close(w.done)
	bo := w.r.cfg.backoff
	for {
		began := time.Now()
		err := w.r.src.Watch(w.ctx, w.target, w)
		if w.ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("watch ended")
		}
		w.fail(err)
		if errors.Is(err, ErrSourceClosed) {
			w.r.remove(w, false)
			w.idle.Stop()
			w.cancel()
			return
		}
		// A watch that delivered and then held for a whole backoff ceiling
		// was healthy: retry it from the shortest delay. One that lists and
		// then fails at once (a backend that answers the list but refuses
		// the watch) keeps backing off, or it would re-list every 50-100 ms.
		if w.progressed.Swap(false) && time.Since(began) >= bo.ceiling() {
			bo.Reset()
		}
		delay := bo.Next()
		if errors.Is(err, ErrResync) {
			delay = 0
		}
		w.retryDelay.Store(int64(delay))
		t := time.NewTimer(delay)
		select {
		case <-w.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Set implements Sink.
func (w *watch) Set(instances []discovery.Instance) {
	w.snap.Store(&instances)
	w.Alive()
}

// Alive implements Sink.
func (w *watch) Alive() {
	w.lastSync.Store(time.Now().UnixNano())
	w.progressed.Store(true)
	w.mu.Lock()
	broken := w.err
	w.err = nil
	w.mu.Unlock()
	if broken != nil {
		klog.Infof("kitexsuite/%s: watch of %q recovered with %d instances", w.r.cfg.system, w.target, w.size())
	}
	w.answerOnce.Do(func() { close(w.answered) })
}

func (w *watch) fail(err error) {
	w.mu.Lock()
	first := w.err == nil
	w.err = err
	w.mu.Unlock()
	w.r.stats.restart(w.target)
	if first {
		if errors.Is(err, ErrResync) {
			klog.Infof("kitexsuite/%s: re-listing %q: %v", w.r.cfg.system, w.target, err)
		} else {
			klog.Warnf("kitexsuite/%s: watch of %q broke, serving the last %d instances until it recovers: %v",
				w.r.cfg.system, w.target, w.size(), err)
		}
	}
	w.answerOnce.Do(func() { close(w.answered) })
}

func (w *watch) lastErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *watch) size() int {
	if s := w.snap.Load(); s != nil {
		return len(*s)
	}
	return 0
}

// checkIdle runs every half idle timeout: a watch nobody resolved during a
// whole period stops.
func (w *watch) checkIdle() {
	if w.used.Swap(false) {
		w.idle.Reset(w.r.cfg.idle / 2)
		return
	}
	removed, current := w.r.remove(w, true)
	switch {
	case removed:
		klog.Debugf("kitexsuite/%s: stopping the idle watch of %q", w.r.cfg.system, w.target)
		w.cancel()
		<-w.done
		w.r.idling.Done()
	case current:
		w.idle.Reset(w.r.cfg.idle / 2)
	}
}

func (w *watch) stop() {
	w.idle.Stop()
	w.cancel()
	<-w.done
}
