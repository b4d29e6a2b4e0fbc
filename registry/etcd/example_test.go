package etcd_test

import (
	"log"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/registry/etcd"
)

// A server registers itself; its clients find it. Both share one etcd
// client, configured (TLS, auth, timeouts) the etcd way.
func Example() {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:2379"}, DialTimeout: 5 * time.Second})
	if err != nil {
		log.Print(err)
		return
	}
	defer cli.Close()

	// Server side: registered 1 s after Run, healed if lost, drained on Stop.
	serverOpts := []server.Option{
		server.WithServerBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "echo"}),
		server.WithRegistry(etcd.NewRegistry(cli)),
	}

	// Client side: watch-fed resolver, balancer refreshed every 100 ms.
	r := etcd.NewResolver(cli)
	defer r.Close()
	clientOpts := []client.Option{client.WithResolver(r), discoverycore.WithFastRefresh(nil, 0)}

	_, _ = serverOpts, clientOpts // pass to echoservice.NewServer / NewClient
}

// Moving a fleet off kitex-contrib registry-etcd one service at a time:
// new servers also write the old layout, new clients also read it.
func Example_migration() {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:2379"}, DialTimeout: 5 * time.Second})
	if err != nil {
		log.Print(err)
		return
	}
	defer cli.Close()
	reg := etcd.NewRegistry(cli, etcd.WithContribLayoutWrite())
	r := etcd.NewResolver(cli, etcd.WithContribLayoutRead())
	defer r.Close()
	_, _ = reg, r
}
