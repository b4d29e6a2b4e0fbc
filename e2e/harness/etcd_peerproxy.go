package harness

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// etcdLinks is the peer network of an EtcdCluster: every member's
// advertised peer URL is a proxy (peerProxy) in front of its real peer
// listener, so the harness can cut one member off from the others while
// it keeps running and keeps serving its clients — a partition, not a
// crash. The members share a loopback host, where a connection's source
// address is its destination's, so no packet filter can tell who dials
// whom; each member's peer certificate names it instead (CommonName), and
// the proxies read it from the TLS handshake.
type etcdLinks struct {
	mu       sync.Mutex
	isolated string // the member cut off, or ""
	conns    map[*peerLink]struct{}
	lns      []net.Listener // the proxies'
	closed   bool
	refused  atomic.Int64 // connections refused or cut because of isolated
	wg       sync.WaitGroup
}

// peerLink is one forwarded peer connection, from one member to another.
type peerLink struct {
	from, to string
	in, out  net.Conn
}

func (l *peerLink) close() {
	_ = l.in.Close()
	_ = l.out.Close()
}

// cut reports whether a connection from one member to another must not
// pass.
func (ls *etcdLinks) cut(from, to string) bool {
	return ls.isolated != "" && (from == ls.isolated || to == ls.isolated)
}

// isolate cuts name off: its open peer connections close, new ones are
// refused, in both directions, until heal.
func (ls *etcdLinks) isolate(name string) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.isolated = name
	for l := range ls.conns {
		if ls.cut(l.from, l.to) {
			ls.refused.Add(1)
			l.close()
			delete(ls.conns, l)
		}
	}
}

func (ls *etcdLinks) heal() {
	ls.mu.Lock()
	ls.isolated = ""
	ls.mu.Unlock()
}

// add tracks l unless it must not pass (then it is closed).
func (ls *etcdLinks) add(l *peerLink) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed || ls.cut(l.from, l.to) {
		if !ls.closed {
			ls.refused.Add(1)
		}
		return false
	}
	ls.conns[l] = struct{}{}
	return true
}

func (ls *etcdLinks) remove(l *peerLink) {
	l.close()
	ls.mu.Lock()
	delete(ls.conns, l)
	ls.mu.Unlock()
}

// close stops the proxies and waits for their goroutines.
func (ls *etcdLinks) close() {
	ls.mu.Lock()
	ls.closed = true
	for _, ln := range ls.lns {
		_ = ln.Close()
	}
	for l := range ls.conns {
		l.close()
	}
	ls.conns = nil
	ls.mu.Unlock()
	ls.wg.Wait()
}

// peerProxy listens on a member's advertised peer address and forwards
// each connection to its real peer listener, unless the links cut it. It
// terminates TLS on both sides: it asks the dialling member for its
// certificate (whose CommonName names it) and dials on with that member's
// certificate, so the receiving member sees who called as it would
// without the proxy.
type peerProxy struct {
	to     string // the member behind it
	target string // its real peer listener
	ln     net.Listener
	server *tls.Config
	client func(from string) *tls.Config // dials target as member from
	links  *etcdLinks
}

// startPeerProxy serves on addr until links close.
func startPeerProxy(tb testing.TB, links *etcdLinks, to, addr, target string, server *tls.Config, client func(string) *tls.Config) {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("etcd harness: peer proxy for %s: %v", to, err)
	}
	links.mu.Lock()
	links.lns = append(links.lns, ln)
	links.mu.Unlock()
	p := &peerProxy{to: to, target: target, ln: ln, server: server, client: client, links: links}
	links.wg.Add(1)
	go p.accept()
}

func (p *peerProxy) accept() {
	defer p.links.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.links.wg.Add(1)
		go p.serve(c)
	}
}

// serve identifies the dialling member, then forwards or refuses.
func (p *peerProxy) serve(c net.Conn) {
	defer p.links.wg.Done()
	in := tls.Server(c, p.server)
	_ = in.SetDeadline(time.Now().Add(5 * time.Second))
	if err := in.Handshake(); err != nil {
		_ = in.Close()
		return
	}
	_ = in.SetDeadline(time.Time{})
	certs := in.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		_ = in.Close()
		return
	}
	from := certs[0].Subject.CommonName
	p.links.mu.Lock()
	cut := p.links.cut(from, p.to)
	p.links.mu.Unlock()
	if cut {
		p.links.refused.Add(1)
		_ = in.Close()
		return
	}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: p.client(from)}
	out, err := dialer.Dial("tcp", p.target)
	if err != nil { // the member is stopped: the dialler sees a refusal
		_ = in.Close()
		return
	}
	l := &peerLink{from: from, to: p.to, in: in, out: out}
	if !p.links.add(l) {
		l.close()
		return
	}
	p.links.wg.Add(1)
	go func() {
		defer p.links.wg.Done()
		p.pipe(l, out, in)
	}()
	p.pipe(l, in, out)
}

// pipe copies src to dst until either fails, then closes the link.
func (p *peerProxy) pipe(l *peerLink, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	p.links.remove(l)
}
