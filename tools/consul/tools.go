//go:build tools

// Package tools pins the Consul server the e2e harness runs. It is not in
// go.work: Consul's pinned dependencies would otherwise raise every
// workspace module's versions. scripts/build-consul.sh builds it.
package tools

import _ "github.com/hashicorp/consul"
