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
	"sync"
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

// eventLog records registry changes (from an etcd watch) and the demo's own
// actions, with times since it started.
type eventLog struct {
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	lines []string
}

// watchRegistry records every instance joining or leaving under prefix.
func watchRegistry(cli *clientv3.Client, prefix string) *eventLog {
	ctx, cancel := context.WithCancel(context.Background())
	l := &eventLog{start: time.Now(), cancel: cancel, done: make(chan struct{})}
	ch := cli.Watch(ctx, prefix, clientv3.WithPrefix())
	go func() {
		defer close(l.done)
		for resp := range ch {
			for _, ev := range resp.Events {
				what := "joined"
				if ev.Type == clientv3.EventTypeDelete {
					what = "left (lease revoked)"
				} else if ev.Kv.Version > 1 {
					continue // a rewrite of the same registration
				}
				l.note(strings.Replace(strings.TrimPrefix(string(ev.Kv.Key), prefix), "/", " ", 1) + " " + what)
			}
		}
	}()
	return l
}

func (l *eventLog) note(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("%8s  %s", time.Since(l.start).Round(time.Millisecond), line))
}

func (l *eventLog) print(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

func (l *eventLog) stop() {
	l.cancel()
	<-l.done
}
