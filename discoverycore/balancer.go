package discoverycore

import (
	"context"
	"math/rand/v2"
	"sync"

	"github.com/cloudwego/kitex/pkg/discovery"
	"github.com/cloudwego/kitex/pkg/loadbalance"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/rpcinfo/remoteinfo"
)

// avoidFailedReasks is how many more times a connect retry asks the inner
// picker for another instance before taking any other one itself.
const avoidFailedReasks = 2

// AvoidFailedInstance wraps lb (Kitex's default weighted round-robin
// balancer when nil) so that a retry does not go back to the instance that
// just failed: a connect retry avoids the instance Kitex failed to dial, and
// an attempt of a Kitex failure retry or backup request (client.
// WithFailureRetry, client.WithBackupRequest) avoids the instance of the
// attempt before it. Kitex retries a call whose dial failed up to six
// times, each with a fresh pick that may land on the same dead instance
// (always, under consistent hashing) until the registry drops it; its
// failure and backup retries tag the previous instance but leave avoiding
// it to the balancer.
//
// A first pick costs the inner pick plus a context and a tag lookup and
// allocates nothing more. On a retry the inner picker is asked again up to twice,
// then any other instance of positive weight is taken; the failed instance
// comes back only when no other address is left. The result's Name is lb's
// name + "+avoid_failed", since Kitex caches balancers by name; Rebalance
// and Delete reach lb when lb is a loadbalance.Rebalancer.
func AvoidFailedInstance(lb loadbalance.Loadbalancer) loadbalance.Loadbalancer {
	switch lb.(type) {
	case nil:
		lb = loadbalance.NewWeightedBalancer()
	case *avoidFailedBalancer, *avoidFailedRebalancer:
		return lb
	}
	b := &avoidFailedBalancer{inner: lb, name: lb.Name() + "+avoid_failed"}
	if rb, ok := lb.(loadbalance.Rebalancer); ok {
		return &avoidFailedRebalancer{avoidFailedBalancer: b, inner: rb}
	}
	return b
}

// avoidFailedBalancer hands out one shared picker per cacheable result, so
// that GetPicker, called by Kitex before every pick, allocates nothing: the
// picker asks the inner balancer for its picker only when picking, which
// keeps the inner pickers' own recycling intact. Delete drops a target's
// picker; over an inner balancer that is no Rebalancer it stays, one per
// target.
type avoidFailedBalancer struct {
	inner   loadbalance.Loadbalancer
	name    string
	pickers sync.Map // CacheKey → *avoidFailedPicker
}

// GetPicker implements loadbalance.Loadbalancer.
func (b *avoidFailedBalancer) GetPicker(res discovery.Result) loadbalance.Picker {
	if !res.Cacheable { // the inner balancer builds a new picker anyway
		return &avoidFailedPicker{inner: b.inner, res: res}
	}
	if v, ok := b.pickers.Load(res.CacheKey); ok {
		// Kitex keeps the resolver's result until the next refresh; a
		// kitexsuite resolver returns the same snapshot until it changes.
		if p := v.(*avoidFailedPicker); sameSlice(p.res.Instances, res.Instances) {
			return p
		}
	}
	p := &avoidFailedPicker{inner: b.inner, res: res}
	b.pickers.Store(res.CacheKey, p)
	return p
}

// Name implements loadbalance.Loadbalancer.
func (b *avoidFailedBalancer) Name() string { return b.name }

// avoidFailedRebalancer is the wrapper of an inner loadbalance.Rebalancer;
// a wrapper of any other balancer is no Rebalancer, so lbcache does not
// compute a Diff on every refresh for nothing.
type avoidFailedRebalancer struct {
	*avoidFailedBalancer
	inner loadbalance.Rebalancer
}

// Rebalance implements loadbalance.Rebalancer. The shared picker needs no
// update: GetPicker notices the new result itself.
func (b *avoidFailedRebalancer) Rebalance(ch discovery.Change) { b.inner.Rebalance(ch) }

// Delete implements loadbalance.Rebalancer; lbcache calls it when a target
// has not been called for its expire interval.
func (b *avoidFailedRebalancer) Delete(ch discovery.Change) {
	if ch.Result.Cacheable {
		b.pickers.Delete(ch.Result.CacheKey)
	}
	b.inner.Delete(ch)
}

// avoidFailedPicker is safe for concurrent use: it holds only the result.
type avoidFailedPicker struct {
	inner loadbalance.Loadbalancer
	res   discovery.Result
}

// recyclable is Kitex's internal.Reusable, which a library cannot import.
type recyclable interface{ Recycle() }

// Next implements loadbalance.Picker. It avoids the address failedAddress
// reports: the instance a connect retry just failed to dial, or the one a
// Kitex failure or backup retry comes from.
func (p *avoidFailedPicker) Next(ctx context.Context, request interface{}) discovery.Instance {
	ins := p.pick(ctx, request)
	if ins == nil {
		return nil
	}
	addr, ok := failedAddress(ctx)
	if !ok || ins.Address().String() != addr {
		return ins
	}
	for range avoidFailedReasks {
		if again := p.pick(ctx, request); again != nil && again.Address().String() != addr {
			return again
		}
	}
	if other := p.other(addr); other != nil {
		return other
	}
	return ins
}

// pick asks the inner balancer for a picker, picks and recycles the picker
// as Kitex's resolve middleware would.
func (p *avoidFailedPicker) pick(ctx context.Context, request interface{}) discovery.Instance {
	picker := p.inner.GetPicker(p.res)
	ins := picker.Next(ctx, request)
	if r, ok := picker.(recyclable); ok {
		r.Recycle()
	}
	return ins
}

// other returns an instance of the result at another address than addr,
// starting at a random one so retries spread over the survivors; Kitex's
// weighted balancers never pick an instance of weight zero, nor does it.
func (p *avoidFailedPicker) other(addr string) discovery.Instance {
	n := len(p.res.Instances)
	if n == 0 {
		return nil
	}
	start := rand.IntN(n)
	for i := range n {
		ins := p.res.Instances[(start+i)%n]
		if ins != nil && ins.Weight() > 0 && ins.Address().String() != addr {
			return ins
		}
	}
	return nil
}

// failedAddress is the address of the instance this pick should avoid.
// Kitex's resolve middleware sets the picked instance on the call's remote
// info before dialling and replaces it only on the next pick, so an
// instance already there is the one a connect retry just failed to dial.
// A Kitex failure or backup retry starts on fresh remote info, tagged with
// the address of the attempt before it (rpcinfo.RetryPrevInstTag, which
// Kitex sets and leaves to balancers to honour).
func failedAddress(ctx context.Context) (string, bool) {
	ri := rpcinfo.GetRPCInfo(ctx)
	if ri == nil {
		return "", false
	}
	remote := remoteinfo.AsRemoteInfo(ri.To())
	if remote == nil {
		return "", false
	}
	if ins := remote.GetInstance(); ins != nil && ins.Address() != nil {
		return ins.Address().String(), true
	}
	if prev, ok := remote.Tag(rpcinfo.RetryPrevInstTag); ok && prev != "" {
		return prev, true
	}
	return "", false
}
