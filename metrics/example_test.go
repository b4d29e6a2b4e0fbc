package metrics_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/server"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo"
	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	"github.com/kitexsuite/suite/metrics"
)

// A server and a client recording into one Prometheus registry, served by
// metrics.Handler.
func Example() {
	reg := prometheus.NewRegistry()

	// (testservice.Start wraps echoservice.NewServer on a loopback listener.)
	svr, err := testservice.Start("echo", testservice.Thrift, &testservice.Handler{},
		server.WithSuite(metrics.NewServerSuite(metrics.WithRegisterer(reg))))
	if err != nil {
		panic(err)
	}
	cli := echoservice.MustNewClient("echo", client.WithHostPorts(svr.Addr),
		client.WithSuite(metrics.NewClientSuite(metrics.WithRegisterer(reg))))
	for i := 0; i < 3; i++ {
		if _, err := cli.Echo(context.Background(), &echo.EchoRequest{Message: "hello"}); err != nil {
			panic(err)
		}
	}
	_ = svr.Stop() // the server records after replying; Stop waits for it

	rec := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "kitex_") && strings.Contains(line, "_calls_total{") {
			fmt.Println(line)
		}
	}
	// Output:
	// kitex_client_calls_total{callee="echo",error_type="",method="echo.EchoService/Echo",outcome="success",rpc_system="kitex",status_code="OK"} 3
	// kitex_server_calls_total{caller="",error_type="",method="echo.EchoService/Echo",outcome="success",rpc_system="kitex",status_code="OK"} 3
}
