package rpcmodel

import "strings"

// SemconvOptIn reads the value of OTEL_SEMCONV_STABILITY_OPT_IN for the RPC
// category, as every kitexsuite signal does: "rpc" (and the default) for
// the current RPC conventions, "rpc/old" for the names kitex-contrib
// obs-opentelemetry emitted, "rpc/dup" for both. rpc/dup wins when several
// are listed, as the specification says.
func SemconvOptIn(value string) (current, old bool) {
	current = true
	for _, f := range strings.Split(value, ",") {
		switch strings.TrimSpace(f) {
		case "rpc/dup":
			return true, true
		case "rpc/old":
			current, old = false, true
		}
	}
	return current, old
}
