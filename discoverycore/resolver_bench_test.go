package discoverycore

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkResolve is what Kitex's balancer cache pays on every refresh:
// a snapshot read, then Diff against the previous (identical) result.
func BenchmarkResolve(b *testing.B) {
	src := newScriptedSource()
	r := NewResolver(src)
	defer r.Close()
	addrs := make([]string, 100)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", 10000+i)
	}
	go func() { (<-src.sessions).sink.Set(instances(addrs...)) }()
	prev, err := r.Resolve(context.Background(), "svc")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, _ := r.Resolve(context.Background(), "svc")
		if _, changed := r.Diff("svc", prev, res); changed {
			b.Fatal("unchanged snapshot reported as changed")
		}
	}
}
