package tracing_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/connpool"
	"github.com/cloudwego/kitex/server"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kitexsuite/suite/internal/testservice"
	"github.com/kitexsuite/suite/tracing"
)

// forwarder is a TCP load balancer in front of one backend at a time, as a
// Kubernetes Service or an L4 balancer is: a new connection goes to the
// current backend, an open one stays where it is.
type forwarder struct {
	ln      net.Listener
	backend atomic.Value // string
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func startForwarder(t *testing.T, backend string) *forwarder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln}
	f.backend.Store(backend)
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *forwarder) accept() {
	defer f.wg.Done()
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", f.backend.Load().(string))
		if err != nil {
			_ = in.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, in, out)
		f.mu.Unlock()
		f.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer f.wg.Done()
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
		}
		go pipe(out, in)
		go pipe(in, out)
	}
}

func (f *forwarder) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// gracefulServerEnv makes the test binary, re-executed by
// TestGracefulStopBehindBalancerFailsNoCall, a server process instead of a
// test run (see TestMain): it prints its address, serves until its stdin
// closes, then stops gracefully and exits.
const gracefulServerEnv = "KITEXSUITE_GRACEFUL_SERVER"

// runGracefulServer is that server process. It has the server Suite, as the
// stopping server of a rolling replacement would.
func runGracefulServer() int {
	svr, err := testservice.Start("backend", testservice.Thrift, &testservice.Handler{},
		server.WithSuite(tracing.NewServerSuite(tracing.WithTracerProvider(sdktrace.NewTracerProvider()))),
		server.WithExitWaitTime(2*time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(svr.Addr)
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := svr.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "graceful stop:", err)
		return 1
	}
	return 0
}

// startServerProcess starts runGracefulServer in a process of its own and
// returns its address and a function that stops it gracefully and waits
// for it to exit.
//
// The stopping server runs in another process because netpoll v0.7.2's
// listener Close closes the listener's fd twice (syscall.Close(ln.fd), then
// ln.file.Close() on the same number): in one process, a connection the
// client dials in between can get that number and be closed under it, one
// failed call that has nothing to do with the Suite. Across processes, as
// in a real rolling restart, that cannot happen.
func startServerProcess(t *testing.T) (addr string, stop func() error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), gracefulServerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			_ = stdin.Close()
			stopErr = cmd.Wait()
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("server process: %v", err)
	}
	return line[:len(line)-1], stop
}

// A server stopping gracefully marks its replies "connection ready to
// reset" (Kitex's crrst header); the client Suite, doing Kitex's
// ClientTTHeaderHandler's work, makes the long pool close such a
// connection instead of reusing it. Behind a balancer, the next call dials
// the new backend: a rolling replacement under load fails no call. Without
// the mark honoured the pool keeps writing to the stopping server's
// connections until it closes them, and calls fail with "EOF peer close"
// (in most replacements, not all: so the test replaces the server
// gracefulRounds times).
func TestGracefulStopBehindBalancerFailsNoCall(t *testing.T) {
	const gracefulRounds = 4
	// Thousands of calls: spans go to a provider of their own, not to the
	// test recorder (whose end signal holds a bounded number).
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	addr, stopOld := startServerProcess(t)
	lb := startForwarder(t, addr)
	fwd, err := testservice.NewForward(testservice.Thrift, "backend", lb.ln.Addr().String(),
		client.WithSuite(tracing.NewClientSuite(tracing.WithTracerProvider(tp))),
		client.WithLongConnection(connpool.IdleConfig{MaxIdlePerAddress: 8, MaxIdleGlobal: 8, MaxIdleTimeout: time.Minute}),
		client.WithRPCTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithCancel(context.Background())
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := fwd(context.Background(), &testservice.Request{Message: "hi"}); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				stop()
				wg.Wait()
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(time.Millisecond) // polling a counter the load goroutines bump
		}
	}
	// Every pooled connection is open to the first server and in use.
	waitFor("500 calls to the first server", func() bool { return ok.Load() >= 500 })
	for round := 1; round <= gracefulRounds; round++ {
		addr, stopNext := startServerProcess(t)
		lb.backend.Store(addr)
		if err := stopOld(); err != nil {
			t.Errorf("round %d: server process: %v", round, err)
		}
		// The old process has exited: every call from here on is the new
		// server's, on connections the client dialled after the marks.
		base := ok.Load()
		waitFor(fmt.Sprintf("round %d: 500 calls to the new server", round), func() bool { return ok.Load() >= base+500 })
		stopOld = stopNext
	}
	stop()
	wg.Wait()
	if n := failed.Load(); n != 0 {
		err, _ := firstErr.Load().(error)
		t.Fatalf("%d of %d calls failed during %d graceful replacements, first: %v", n, n+ok.Load(), gracefulRounds, err)
	}
}
