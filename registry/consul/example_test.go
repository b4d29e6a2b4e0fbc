package consul_test

import (
	"log"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"
	"github.com/hashicorp/consul/api"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/registry/consul"
)

// A server registers with the local agent; its clients find it. Token and
// TLS go in api.Config.
func Example() {
	cfg := api.DefaultConfig() // 127.0.0.1:8500, CONSUL_HTTP_TOKEN, CONSUL_CACERT, ...
	cli, err := api.NewClient(cfg)
	if err != nil {
		log.Print(err)
		return
	}
	serverOpts := []server.Option{
		server.WithServerBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: "echo"}),
		server.WithRegistry(consul.NewRegistry(cli)), // TTL check heartbeated, drained on Stop
	}
	r := consul.NewResolver(cli, consul.WithTags("zone:a"))
	defer r.Close()
	clientOpts := []client.Option{client.WithResolver(r), discoverycore.WithFastRefresh(nil, 0)}
	_, _ = serverOpts, clientOpts // pass to echoservice.NewServer / NewClient
}
