package discoverycore

import (
	"maps"
	"net"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/utils"
)

// Instance is a discovered server. It implements Kitex's discovery.Instance
// and also carries the start time and warm-up period the server registered
// with, for balancers that ramp new instances up.
type Instance struct {
	addr    net.Addr
	weight  int
	tags    map[string]string
	started time.Time
	warmUp  time.Duration
}

var _ discovery.Instance = (*Instance)(nil)

// NewInstance returns an instance at address on network. Weights below 1
// become discovery.DefaultWeight, as Kitex's weighted balancers ignore them.
func NewInstance(network, address string, weight int, tags map[string]string, started time.Time, warmUp time.Duration) *Instance {
	if weight <= 0 {
		weight = discovery.DefaultWeight
	}
	return &Instance{addr: utils.NewNetAddr(network, address), weight: weight, tags: tags, started: started, warmUp: warmUp}
}

// Address implements discovery.Instance.
func (i *Instance) Address() net.Addr { return i.addr }

// Weight implements discovery.Instance.
func (i *Instance) Weight() int { return i.weight }

// Tag implements discovery.Instance.
func (i *Instance) Tag(key string) (string, bool) {
	v, ok := i.tags[key]
	return v, ok
}

// Tags implements discovery.Instance. The map must not be modified.
func (i *Instance) Tags() map[string]string { return i.tags }

// StartTime is when the server registered itself (zero when unknown).
func (i *Instance) StartTime() time.Time { return i.started }

// WarmUp is the warm-up period the server asked for (zero when none).
func (i *Instance) WarmUp() time.Duration { return i.warmUp }

// Diff computes the change between two results for Kitex's balancer cache.
// Unlike discovery.DefaultDiff it reports an instance whose tags changed as
// Updated (DefaultDiff only compares weights), so tag-routing balancers see
// the change. An unchanged snapshot — the common case, as Kitex calls Diff
// on every refresh — is recognised without building any map.
func Diff(cacheKey string, prev, next discovery.Result) (discovery.Change, bool) {
	ch := discovery.Change{Result: discovery.Result{Cacheable: next.Cacheable, CacheKey: cacheKey, Instances: next.Instances}}
	if sameSlice(prev.Instances, next.Instances) {
		return ch, false
	}
	prevByAddr := make(map[string]discovery.Instance, len(prev.Instances))
	for _, ins := range prev.Instances {
		prevByAddr[ins.Address().String()] = ins
	}
	seen := make(map[string]struct{}, len(next.Instances))
	for _, ins := range next.Instances {
		addr := ins.Address().String()
		seen[addr] = struct{}{}
		old, ok := prevByAddr[addr]
		switch {
		case !ok:
			ch.Added = append(ch.Added, ins)
		case old.Weight() != ins.Weight() || !sameTags(old, ins):
			ch.Updated = append(ch.Updated, ins)
		}
	}
	for _, ins := range prev.Instances {
		if _, ok := seen[ins.Address().String()]; !ok {
			ch.Removed = append(ch.Removed, ins)
		}
	}
	return ch, len(ch.Added)+len(ch.Updated)+len(ch.Removed) > 0
}

// sameSlice reports whether a and b are the same snapshot: snapshots are
// never modified after publication, so identity means equality.
func sameSlice(a, b []discovery.Instance) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}

// sameTags compares the tags of instances that expose them all (kitexsuite's
// and Kitex's own instances do); discovery.Instance itself only has Tag.
func sameTags(a, b discovery.Instance) bool {
	ta, okA := a.(interface{ Tags() map[string]string })
	tb, okB := b.(interface{ Tags() map[string]string })
	if !okA || !okB {
		return true
	}
	return maps.Equal(ta.Tags(), tb.Tags())
}
