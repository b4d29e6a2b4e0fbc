//go:build tools

// Package tools pins what the kind node image runs its pods with:
// containerd v2.3.4 (daemon, shim, ctr) and the CNI plugins v1.9.1 of its
// static network (ptp, host-local, portmap, loopback). Not in go.work.
// scripts/kind/build-containerd.sh builds it.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
	_ "github.com/containernetworking/plugins/plugins/main/ptp"
	_ "github.com/containernetworking/plugins/plugins/meta/portmap"
)
