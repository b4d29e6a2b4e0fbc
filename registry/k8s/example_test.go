package k8s_test

import (
	"log"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kitexsuite/suite/discoverycore"
	"github.com/kitexsuite/suite/registry/k8s"
)

// In a pod: resolve other services from EndpointSlices, and drain this
// server through its readiness gate on shutdown.
func Example() {
	cfg, err := rest.InClusterConfig() // or clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		log.Print(err)
		return
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		log.Print(err)
		return
	}
	r := k8s.NewResolver(cs)
	defer r.Close()
	clientOpts := []client.Option{client.WithResolver(r), discoverycore.WithFastRefresh(nil, 0)} // target "echo.prod:8888"
	serverOpts := []server.Option{server.WithRegistry(k8s.NewRegistry(cs))}                      // POD_NAME, POD_NAMESPACE
	_, _ = clientOpts, serverOpts
}
