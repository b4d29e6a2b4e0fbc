package harness

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// TestHostsGateway is the address of the root namespace's end of the
	// test hosts' link, on 198.18.0.0/16 (part of 198.18.0.0/15, set aside
	// for benchmarking networks: it is never routed elsewhere).
	TestHostsGateway = "198.18.0.1"
	// testHostsPrefix is the prefix length of the test hosts' subnet.
	testHostsPrefix = 16
	// TestHostsGateway6 is the root end's IPv6 address, in a unique local
	// /64 of the test hosts' own (fd5b:1f0a:5e17::/64, a random ULA
	// prefix), for dual-stack "pods".
	TestHostsGateway6 = "fd5b:1f0a:5e17::1"
	// testHostsPrefix6 is the prefix length of the IPv6 subnet.
	testHostsPrefix6 = 64
	// testHostsLock is the file whose flock a process holds while it has
	// test hosts: their subnet is the same on every run, so only one
	// process on the machine may have it at a time.
	testHostsLock = "/run/lock/kitexsuite-testhosts.lock"
	// testHostsLockTimeout bounds how long StartTestHosts waits for another
	// process's test hosts to go.
	testHostsLockTimeout = 5 * time.Minute
	// netnsDir is where `ip netns` keeps the named namespaces.
	netnsDir = "/var/run/netns"
)

// TestHosts are addresses outside loopback that tests may give to "pods"
// and serve on: a network namespace of the test's own, joined to the root
// namespace by a veth pair. The root end is 198.18.0.1/16 and
// fd5b:1f0a:5e17::1/64; AddIP and AddIPv6 add addresses to the other end.
// Traffic to them stays on the machine.
//
// It needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2's ip. All
// TestHosts of a process share one namespace (AddIP never hands out an
// address twice), which exists while any of them is in use; across
// processes, they take turns (a file lock), since the subnet is the same.
type TestHosts struct {
	net *testNet
}

// testNet is the network namespace the TestHosts of a process share.
type testNet struct {
	ns   string   // the namespace's name, kxs-…
	host string   // the root end of the veth pair, kxh-…
	lock *os.File // holds the machine-wide flock
	mac  string   // hardware address of the namespace's end of the pair

	mu    sync.Mutex
	next  netip.Addr // the next address AddIP considers
	next6 netip.Addr // the next address AddIPv6 considers
}

var (
	testNetMu   sync.Mutex
	testNetCur  *testNet
	testNetRefs int
	testNetRuns int // namespaces this process made, to name each uniquely
)

// StartTestHosts returns test hosts, making the network namespace unless
// the process already has it. The first time it removes the kxs-*
// namespaces and kxh-* links that crashed runs left. tb's cleanup removes
// the namespace once no test uses it.
func StartTestHosts(tb testing.TB) *TestHosts {
	tb.Helper()
	testNetMu.Lock()
	defer testNetMu.Unlock()
	if testNetCur == nil {
		n, err := newTestNet(tb)
		if err != nil {
			tb.Fatalf("test hosts: %v", err)
		}
		testNetCur = n
	}
	testNetRefs++
	h := &TestHosts{net: testNetCur}
	tb.Cleanup(func() {
		testNetMu.Lock()
		defer testNetMu.Unlock()
		if testNetRefs--; testNetRefs == 0 {
			if err := testNetCur.remove(); err != nil {
				tb.Errorf("test hosts: %v", err)
			}
			testNetCur = nil
		}
	})
	return h
}

// Namespace returns the name of the network namespace (for `ip netns
// exec`).
func (h *TestHosts) Namespace() string { return h.net.ns }

// AddIP adds the next free address of 198.18.0.0/16 (from 198.18.0.2 on,
// never .0, .1 or .255 in the last byte) to the namespace's interface and
// returns it. tb's cleanup removes it.
func (h *TestHosts) AddIP(tb testing.TB) string {
	tb.Helper()
	n := h.net
	n.mu.Lock()
	ip := n.next
	for ; ; ip = ip.Next() {
		if !ip.IsValid() || ip.As4()[1] != 18 {
			n.mu.Unlock()
			tb.Fatalf("test hosts: no address left in 198.18.0.0/16")
		}
		if last := ip.As4()[3]; last != 0 && last != 1 && last != 255 {
			break
		}
	}
	n.next = ip.Next()
	n.mu.Unlock()
	n.addAddr(tb, ip, testHostsPrefix)
	return ip.String()
}

// AddIPv6 adds the next free address of the IPv6 subnet (from
// fd5b:1f0a:5e17::2 on) to the namespace's interface and returns it, for
// the IPv6 half of a dual-stack pod. tb's cleanup removes it.
func (h *TestHosts) AddIPv6(tb testing.TB) string {
	tb.Helper()
	n := h.net
	n.mu.Lock()
	ip := n.next6
	n.next6 = ip.Next()
	n.mu.Unlock()
	n.addAddr(tb, ip, testHostsPrefix6)
	return ip.String()
}

// addAddr adds ip/prefix to the namespace's interface, with a static
// neighbour entry on the root end, until tb's test ends.
func (n *testNet) addAddr(tb testing.TB, ip netip.Addr, prefix int) {
	tb.Helper()
	cidr := ip.String() + "/" + strconv.Itoa(prefix)
	add := []string{"-n", n.ns, "addr", "add", cidr, "dev", "eth0"}
	if ip.Is6() {
		add = append(add, "nodad") // usable at once, not after duplicate address detection
	}
	if err := ipCmd(add...); err != nil {
		tb.Fatalf("test hosts: %v", err)
	}
	// A static neighbour entry: the first dial to a fresh address must not
	// wait on ARP or neighbour discovery (whose retries are a second apart
	// on a loaded machine).
	if err := ipCmd("neigh", "replace", ip.String(), "lladdr", n.mac, "dev", n.host, "nud", "permanent"); err != nil {
		tb.Fatalf("test hosts: %v", err)
	}
	tb.Cleanup(func() { _ = ipCmd("-n", n.ns, "addr", "del", cidr, "dev", "eth0") })
}

// Listen returns a TCP listener on ip:0 made inside the namespace, closed
// when tb's test ends. The socket belongs to the namespace, so it accepts
// connections from the root namespace (dial ip and the listener's port)
// whichever goroutine serves it.
func (h *TestHosts) Listen(tb testing.TB, ip string) net.Listener {
	tb.Helper()
	return h.ListenPort(tb, ip, 0)
}

// ListenPort is Listen on a given port, such as the targetPort of a
// Service, which every "pod" serves on at an address of its own.
func (h *TestHosts) ListenPort(tb testing.TB, ip string, port int) net.Listener {
	tb.Helper()
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	var l net.Listener
	err := h.net.inNamespace(func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		tb.Fatalf("test hosts: listen on %s in %s: %v", addr, h.net.ns, err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

// Forward makes addr, a loopback address of the root namespace (a
// control plane's API, a trace backend's receiver), answer at the same
// address inside the namespace, so a program run there (ProcessSpec's
// Namespace) reaches it as a program in the root namespace would.
func (h *TestHosts) Forward(tb testing.TB, addr string) {
	tb.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatalf("test hosts: forward %s: %v", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		tb.Fatalf("test hosts: forward %s: %v", addr, err)
	}
	startProxyOn(tb, h.ListenPort(tb, host, p), addr)
}

// inNamespace runs f on a thread switched into the namespace. If the
// thread cannot be switched back, it stays locked to the goroutine, so
// that it ends with it instead of running other goroutines in the wrong
// namespace.
func (n *testNet) inNamespace(f func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open(netnsDir + "/" + n.ns)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", n.ns, err)
	}
	ferr := f()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it exits with this goroutine.
		return errors.Join(ferr, fmt.Errorf("return from network namespace %s: %w", n.ns, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// newTestNet takes the machine-wide lock, removes what crashed runs left,
// and makes the namespace and its veth pair.
func newTestNet(tb testing.TB) (*testNet, error) {
	lock, err := lockTestHosts(tb)
	if err != nil {
		return nil, err
	}
	if err := removeStaleTestNets(); err != nil {
		unlockTestHosts(lock)
		return nil, err
	}
	testNetRuns++
	// At most 4+5+1+3 bytes: a link name has 15 at most.
	id := strconv.FormatInt(int64(os.Getpid()), 36) + "-" + strconv.FormatInt(int64(testNetRuns%46656), 36)
	n := &testNet{
		ns:    "kxs-" + id,
		host:  "kxh-" + id,
		lock:  lock,
		next:  netip.AddrFrom4([4]byte{198, 18, 0, 2}),
		next6: netip.MustParseAddr(TestHostsGateway6).Next(),
	}
	gw := TestHostsGateway + "/" + strconv.Itoa(testHostsPrefix)
	gw6 := TestHostsGateway6 + "/" + strconv.Itoa(testHostsPrefix6)
	for _, args := range [][]string{
		{"netns", "add", n.ns},
		{"link", "add", n.host, "type", "veth", "peer", "name", "eth0", "netns", n.ns},
		{"addr", "add", gw, "dev", n.host},
		{"addr", "add", gw6, "dev", n.host, "nodad"},
		{"link", "set", n.host, "up"},
		{"-n", n.ns, "link", "set", "eth0", "up"},
		{"-n", n.ns, "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			_ = n.remove()
			return nil, err
		}
	}
	out, err := exec.Command("ip", "-n", n.ns, "-o", "link", "show", "eth0").Output()
	_, after, found := strings.Cut(string(out), "link/ether ")
	if err != nil || !found {
		_ = n.remove()
		return nil, fmt.Errorf("read the hardware address of eth0 in %s: %v %s", n.ns, err, out)
	}
	n.mac = strings.Fields(after)[0]
	// Deleting an interface's first address of a subnet deletes the others
	// too, unless they are promoted: AddIP's cleanups run in any order.
	err = n.inNamespace(func() error {
		return os.WriteFile("/proc/sys/net/ipv4/conf/eth0/promote_secondaries", []byte("1\n"), 0o644)
	})
	if err != nil {
		_ = n.remove()
		return nil, fmt.Errorf("promote secondary addresses in %s: %w", n.ns, err)
	}
	return n, nil
}

// remove deletes the veth pair (at once, whereas a namespace's interfaces
// go some time after it) and the namespace, then releases the lock.
func (n *testNet) remove() error {
	defer unlockTestHosts(n.lock)
	var errs []error
	if linkExists(n.host) {
		errs = append(errs, ipCmd("link", "del", n.host))
	}
	if _, err := os.Stat(netnsDir + "/" + n.ns); err == nil {
		errs = append(errs, ipCmd("netns", "del", n.ns))
	}
	return errors.Join(errs...)
}

// removeStaleTestNets removes every kxs-* namespace and kxh-* link: with
// the lock held, no live process owns one.
func removeStaleTestNets() error {
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		return fmt.Errorf("ip -o link show: %w", err)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		// "5: kxh-abc@if2: <...> ..."
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(fields[1], ":"), "@")
		if strings.HasPrefix(name, "kxh-") {
			if err := ipCmd("link", "del", name); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "kxs-") {
			if err := ipCmd("netns", "del", e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// linkExists reports whether the root namespace has a link named name.
func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// lockTestHosts takes the machine-wide flock, waiting up to
// testHostsLockTimeout for another process to release it.
func lockTestHosts(tb testing.TB) (*os.File, error) {
	f, err := os.OpenFile(testHostsLock, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", testHostsLock, err)
	}
	deadline := time.Now().Add(testHostsLockTimeout)
	logged := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			holder, _ := os.ReadFile(testHostsLock)
			f.Close()
			return nil, fmt.Errorf("lock %s (held by pid %s): %w", testHostsLock, bytes.TrimSpace(holder), err)
		}
		if !logged {
			holder, _ := os.ReadFile(testHostsLock)
			tb.Logf("test hosts: waiting for pid %s to release %s", bytes.TrimSpace(holder), testHostsLock)
			logged = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// unlockTestHosts releases the flock (closing the file does).
func unlockTestHosts(f *os.File) {
	_ = f.Truncate(0)
	_ = f.Close()
}

// ipCmd runs ip with args, returning its output in the error if it fails.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
