package discoverycore

import (
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/loadbalance"
	"github.com/cloudwego/kitex/pkg/loadbalance/lbcache"
)

// DefaultRefreshInterval is how often [WithFastRefresh] has Kitex's balancer
// cache call Resolve; Kitex's own default is 5 s.
const DefaultRefreshInterval = 100 * time.Millisecond

// WithFastRefresh returns a client option that installs lb (when nil,
// Kitex's default weighted round-robin balancer wrapped in
// [AvoidFailedInstance], so a connect retry skips the replica that just
// refused) with a balancer cache that calls Resolve every interval
// (DefaultRefreshInterval when not positive), so a change the watch saw
// reaches the balancer in well under a second. With a kitexsuite resolver
// each refresh is a map read and an identity check.
//
// The balancer cache is shared by clients with equal resolver names,
// balancer names and intervals, as with Kitex's defaults; lb must therefore
// be safe to share, as Kitex's own balancers are.
func WithFastRefresh(lb loadbalance.Loadbalancer, interval time.Duration) client.Option {
	if lb == nil {
		lb = AvoidFailedInstance(loadbalance.NewWeightedBalancer())
	}
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	return client.WithLoadBalancer(lb, &lbcache.Options{Cacheable: true, RefreshInterval: interval})
}
