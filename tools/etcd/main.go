// Command etcd is etcd v3.7.0's server, the version kubeadm v1.37.2 runs as
// the kind node's static etcd pod (image registry.k8s.io/etcd:3.7.0-0).
// etcd's own main lives in a module with replace lines, so it is built here
// through etcdmain, as a dependency. Not in go.work.
// scripts/kind/build-etcd.sh builds it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
