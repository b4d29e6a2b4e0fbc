package discoverycore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// The environment variables kitex-contrib's registries honour, read by
// AdvertisedAddr: the host (an IP or a name) and the port to publish
// instead of what the listen address says, for a server behind NAT, a
// port mapping or a container network.
const (
	EnvIPToRegistry   = "KITEX_IP_TO_REGISTRY"
	EnvPortToRegistry = "KITEX_PORT_TO_REGISTRY"
)

// AdvertisedAddr is the host:port a registry should publish for a server
// listening on a:
//
//   - KITEX_IP_TO_REGISTRY and KITEX_PORT_TO_REGISTRY, when set, replace
//     the host and the port (a malformed value is an error naming the
//     variable, never silently ignored);
//   - otherwise the listen address itself, when it names a host;
//   - when its host is unspecified (":8888", "[::]:8888"), this machine's
//     address: a global unicast IPv4 address of an interface that is up,
//     else a global unicast IPv6 one, skipping loopback and link-local
//     addresses (169.254/16, fe80::/10) and preferring other interfaces
//     to container bridges, virtual links and VPN tunnels (docker0, br-*,
//     veth*, cni*, tun*, wg*, ...), which are used only when nothing else
//     is there.
//
// Servers that must advertise something else set registry.Info.Addr with
// SkipListenAddr.
func AdvertisedAddr(a net.Addr) (string, error) {
	return advertisedAddr(a, os.Getenv(EnvIPToRegistry), os.Getenv(EnvPortToRegistry), interfaceAddrs)
}

// ifaceAddr is one address of one network interface.
type ifaceAddr struct {
	iface string
	up    bool
	ip    net.IP
}

// interfaceAddrs lists this machine's interface addresses, in the order
// the system gives them.
func interfaceAddrs() ([]ifaceAddr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []ifaceAddr
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue // an interface that vanished while listed
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				out = append(out, ifaceAddr{iface: ifc.Name, up: ifc.Flags&net.FlagUp != 0, ip: n.IP})
			}
		}
	}
	return out, nil
}

func advertisedAddr(a net.Addr, envHost, envPort string, list func() ([]ifaceAddr, error)) (string, error) {
	if a == nil {
		return "", errors.New("no listen address")
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", fmt.Errorf("address %q: %w", a.String(), err)
	}
	if envPort != "" {
		if p, err := strconv.Atoi(envPort); err != nil || p <= 0 || p > 65535 {
			return "", fmt.Errorf("%s=%q is not a port (1-65535)", EnvPortToRegistry, envPort)
		}
		port = envPort
	} else if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("address %q: bad port", a.String())
	}
	if envHost != "" {
		if strings.ContainsAny(envHost, " /[]") || (strings.Contains(envHost, ":") && net.ParseIP(envHost) == nil) {
			return "", fmt.Errorf("%s=%q is not an IP address or a host name", EnvIPToRegistry, envHost)
		}
		return net.JoinHostPort(envHost, port), nil
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return net.JoinHostPort(host, port), nil
	}
	addrs, err := list()
	if err != nil {
		return "", fmt.Errorf("listen address %q has no host and interfaces are unreadable: %w", a.String(), err)
	}
	if ip := pickAddr(addrs); ip != nil {
		return net.JoinHostPort(ip.String(), port), nil
	}
	return "", fmt.Errorf("listen address %q has no host and this machine has no global unicast address; set %s or Info.Addr", a.String(), EnvIPToRegistry)
}

// virtualIfacePrefixes name container bridges, virtual links and VPN
// tunnels: their addresses are rarely what other machines reach.
var virtualIfacePrefixes = []string{"docker", "br-", "veth", "virbr", "cni", "flannel", "cali", "vxlan", "kube-", "cilium", "weave", "lxc", "lxd", "tun", "tap", "wg", "utun", "tailscale", "zt"}

// pickAddr is AdvertisedAddr's choice among addrs: the first of the best
// rank, in the order given: IPv4 on a real interface, then IPv6 on one,
// then IPv4 and IPv6 on virtual ones (an IPv6-only host with a docker0
// bridge advertises its IPv6 address).
func pickAddr(addrs []ifaceAddr) net.IP {
	var best net.IP
	bestRank := 4
	for _, a := range addrs {
		ip := a.ip
		if !a.up || ip == nil || !ip.IsGlobalUnicast() || ip.IsLinkLocalUnicast() {
			continue
		}
		rank := 0
		if ip.To4() == nil {
			rank = 1
		}
		for _, p := range virtualIfacePrefixes {
			if strings.HasPrefix(a.iface, p) {
				rank += 2
				break
			}
		}
		if rank < bestRank {
			best, bestRank = ip, rank
		}
	}
	return best
}

// Sleep waits d or until ctx is done, and reports whether the full wait
// elapsed: the pause between a registry's retries and heartbeats.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
