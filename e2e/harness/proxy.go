package harness

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections from a loopback port to a real server and
// can cut them, to partition a client from a server that keeps running:
// what a network blip looks like to the client, with the server's state
// moving on without it.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu      sync.Mutex
	blocked bool
	conns   map[net.Conn]struct{}

	stalled atomic.Bool
	dropped atomic.Int64 // bytes swallowed while stalled
}

// StartProxy listens on a free loopback port and forwards to target until
// tb's test ends.
func StartProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("proxy harness: %v", err)
	}
	return startProxyOn(tb, ln, target)
}

// startProxyOn is StartProxy on a listener of the caller's.
func startProxyOn(tb testing.TB, ln net.Listener, target string) *Proxy {
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port; clients dial it instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is Addr as an http URL, for etcd endpoints.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Block cuts every open connection and refuses new ones until Unblock.
func (p *Proxy) Block() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// Stall stops forwarding without closing anything: open connections stay
// open and what either side sends is swallowed, new connections are
// accepted and swallowed alike. What a half-open connection looks like to
// the client (a server gone behind a ClusterIP, a dropped conntrack
// entry): no error, no answer. Unstall forwards again.
func (p *Proxy) Stall() { p.stalled.Store(true) }

// Unstall ends Stall: bytes sent from now on are forwarded.
func (p *Proxy) Unstall() { p.stalled.Store(false) }

// Dropped is how many bytes the proxy has swallowed while stalled.
func (p *Proxy) Dropped() int64 { return p.dropped.Load() }

// Unblock forwards new connections again.
func (p *Proxy) Unblock() {
	p.mu.Lock()
	p.blocked = false
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return // listener closed
		}
		if !p.track(in) {
			_ = in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil || !p.track(out) {
			p.untrack(in)
			if out != nil {
				_ = out.Close()
			}
			continue
		}
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// pipe copies until either side fails, then closes both; while the proxy
// is stalled it reads and drops.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.stalled.Load() {
			p.dropped.Add(int64(n))
		} else if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	p.untrack(dst)
	p.untrack(src)
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.blocked || p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
