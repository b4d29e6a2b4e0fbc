package discoverycore

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// AdvertisedAddr is the host:port a registry should publish for a server
// listening on a: the listen address itself, or — when its host is
// unspecified (":8888", "[::]:8888") — this machine's first non-loopback
// IPv4 address with the same port. Servers that must advertise something
// else set registry.Info.Addr with SkipListenAddr.
func AdvertisedAddr(a net.Addr) (string, error) {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", fmt.Errorf("address %q: %w", a.String(), err)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return "", fmt.Errorf("address %q: bad port", a.String())
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return a.String(), nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("listen address %q has no host and interfaces are unreadable: %w", a.String(), err)
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return net.JoinHostPort(n.IP.String(), port), nil
		}
	}
	return "", fmt.Errorf("listen address %q has no host and no non-loopback IPv4 address was found", a.String())
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
