package testservice

// KitexBackgroundGoroutines are the top functions of goroutines Kitex
// v0.16.3 itself keeps for the life of the process, which goroutine-leak
// checks must ignore (and only these, so a leak of ours is still caught):
//   - lbcache's balancer-factory watcher: Kitex caches one per resolver
//     name globally and never stops it;
//   - DefaultSysExitSignal: every server.Run starts a signal.Notify waiter
//     that Stop does not end (a Kitex leak, one per server started);
//   - the shared ticker, client timeout pool, netpoll's poller and gRPC's
//     stream buffer preallocator, all process-wide;
//   - the retry circuit-breaker panel's ticker, which lives until the
//     client is closed (generated clients do not expose Close).
var KitexBackgroundGoroutines = []string{
	"github.com/cloudwego/kitex/pkg/loadbalance/lbcache.(*BalancerFactory).watcher",
	"github.com/cloudwego/kitex/internal/server.DefaultSysExitSignal.func1",
	"github.com/cloudwego/kitex/pkg/utils.(*SharedTicker).Tick",
	"github.com/cloudwego/kitex/client.(*timeoutPool).createWorker.func1",
	"github.com/cloudwego/kitex/client.(*timeoutPool).createTicker.func1",
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/grpc.preallocateForStream",
	"github.com/bytedance/gopkg/cloud/circuitbreaker.(*sharedTicker).tick",
}

// KitexBackgroundStacks are functions anywhere in the stack of a
// process-wide Kitex goroutine: netpoll's poller sits in a syscall under it.
var KitexBackgroundStacks = []string{
	"github.com/cloudwego/netpoll.(*defaultPoll).Wait",
}
