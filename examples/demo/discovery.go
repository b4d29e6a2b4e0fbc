package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cloudwego/kitex/pkg/discovery"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// embeddedEtcd is a single-member etcd inside the demo process, on free
// loopback ports, with its data in a temporary directory: the "embedded
// default" that lets the demo show discovery with nothing installed.
type embeddedEtcd struct {
	srv *embed.Etcd
	dir string
	url string
}

func startEtcd() (*embeddedEtcd, error) {
	dir, err := os.MkdirTemp("", "kitexsuite-demo-etcd-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = "demo", dir
	client, peer := url.URL{Scheme: "http", Host: ports[0]}, url.URL{Scheme: "http", Host: ports[1]}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.TickMs, cfg.ElectionMs = 10, 50
	cfg.Logger, cfg.ZapLoggerBuilder = "zap", embed.NewZapLoggerBuilder(zap.NewNop())
	srv, err := embed.StartEtcd(cfg)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	select {
	case <-srv.Server.ReadyNotify():
	case <-time.After(15 * time.Second):
		srv.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("embedded etcd not ready in 15 s")
	}
	return &embeddedEtcd{srv: srv, dir: dir, url: client.String()}, nil
}

func (e *embeddedEtcd) client() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: []string{e.url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

func (e *embeddedEtcd) stop() {
	e.srv.Close()
	_ = os.RemoveAll(e.dir)
}

func freePorts(n int) ([]string, error) {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		out = append(out, ln.Addr().String())
		defer ln.Close()
	}
	return out, nil
}

// awaitInstances waits until r resolves target to exactly want (Kitex
// registers a server one second after Run), returning how long it took.
func awaitInstances(r discovery.Resolver, target string, want []string) (time.Duration, error) {
	start := time.Now()
	want = slices.Sorted(slices.Values(want))
	var got []string
	for time.Since(start) < 15*time.Second {
		if res, err := r.Resolve(context.Background(), target); err == nil {
			if got = instanceAddrs(res); slices.Equal(got, want) {
				return time.Since(start), nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("resolver saw %s as %v, want %v", target, got, want)
}

func instanceAddrs(res discovery.Result) []string {
	out := make([]string, len(res.Instances))
	for i, ins := range res.Instances {
		out[i] = ins.Address().String()
	}
	sort.Strings(out)
	return out
}

// printRegistry lists what the servers registered, as etcd stores it.
func printRegistry(w io.Writer, cli *clientv3.Client, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		fmt.Fprintf(w, "  %s  lease=%x\n", strings.TrimPrefix(string(kv.Key), prefix), kv.Lease)
	}
	return nil
}
