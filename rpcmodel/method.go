package rpcmodel

import (
	"errors"
	"maps"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/remote"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/codes"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/serviceinfo"
	"github.com/cloudwego/kitex/transport"
)

type methodKey struct{ pkg, svc, method string }

// DefaultGenericMethods is how many distinct method names each generic
// service (one that answers any name a caller sends, such as Kitex's binary
// generic services) reports by name in one Methods table before the rest
// become OtherMethod.
const DefaultGenericMethods = 128

// Methods decides which methods a signal reports by name, and interns their
// full names ("pkg.Service/Method"). Each Suite holds its own, so the
// callers of one service cannot change the labels of another:
//
//   - a method the service's IDL declares is always named (the set is
//     bounded by the IDL);
//   - a method a generic service answers without declaring it is named
//     while that service has had fewer than the table's limit of such
//     names, or when it is one of the table's known names; otherwise it is
//     OtherMethod.
//
// The zero value is not usable; build one with NewMethods. A Methods is
// safe for concurrent use; looking up a method seen before allocates
// nothing.
type Methods struct {
	limit int
	known map[string]bool

	// names holds the admitted full names. Readers load an immutable map; a
	// new method copies it under mu. A plain map's generated hash for
	// methodKey is cheaper than sync.Map's hashing of an interface key
	// (about 10 against 17 ns per lookup here).
	names   atomic.Pointer[map[methodKey]string]
	mu      sync.Mutex
	generic map[[2]string]int // generic names admitted, per package and service
}

// NewMethods returns a table that names up to limit undeclared methods per
// generic service (limit < 0: none), and the known names always.
func NewMethods(limit int, known ...string) *Methods {
	t := &Methods{limit: limit, generic: map[[2]string]int{}}
	if len(known) > 0 {
		t.known = make(map[string]bool, len(known))
		for _, k := range known {
			t.known[k] = true
		}
	}
	return t
}

// defaultMethods is the table of the package-level functions (Derive,
// FullMethodOf, FullMethodName), for code outside a Suite.
var defaultMethods = NewMethods(DefaultGenericMethods)

// lookup returns the interned full name of an admitted method, admitting it
// if it may be named; declared says whether the service's IDL declares it.
func (t *Methods) lookup(pkg, svc, method string, declared func() bool) (string, bool) {
	k := methodKey{pkg, svc, method}
	if m := t.names.Load(); m != nil {
		if s, ok := (*m)[k]; ok {
			return s, true
		}
	}
	isDeclared := declared == nil || declared()
	t.mu.Lock()
	defer t.mu.Unlock()
	var cur map[methodKey]string
	if m := t.names.Load(); m != nil {
		cur = *m
	}
	if s, ok := cur[k]; ok {
		return s, true
	}
	if !isDeclared && !t.known[method] {
		sk := [2]string{pkg, svc}
		if t.generic[sk] >= t.limit {
			return OtherMethod, false
		}
		t.generic[sk]++
	}
	s := svc + "/" + method
	if pkg != "" {
		s = pkg + "." + s
	}
	next := make(map[methodKey]string, len(cur)+1)
	maps.Copy(next, cur)
	next[k] = s
	t.names.Store(&next)
	return s, true
}

// FullMethod returns the full name of the call ri describes
// ("package.Service/Method"), or OtherMethod when the method is not named
// (see Methods).
func (t *Methods) FullMethod(ri rpcinfo.RPCInfo) string {
	if ri == nil {
		return OtherMethod
	}
	inv := ri.Invocation()
	if inv == nil || inv.MethodInfo() == nil || inv.MethodName() == "" {
		return OtherMethod
	}
	m, _ := t.lookup(inv.PackageName(), inv.ServiceName(), inv.MethodName(), declaredFunc(inv))
	return m
}

// Named returns the full name of a method the table has already admitted,
// without admitting anything: for naming a span before Kitex has looked the
// method up (the gRPC server's tracer starts before that).
func (t *Methods) Named(pkg, service, method string) (string, bool) {
	if m := t.names.Load(); m != nil {
		s, ok := (*m)[methodKey{pkg, service, method}]
		return s, ok
	}
	return "", false
}

// Declare returns the full name of a method the service's IDL declares
// (from its ServiceInfo), admitting it.
func (t *Methods) Declare(pkg, service, method string) string {
	m, _ := t.lookup(pkg, service, method, nil)
	return m
}

// declaredFunc tells, when first asked about a method, whether the call's
// service declares it. On the client the call carries its ServiceInfo; on
// the server it does not, and a generic service's MethodInfo is told apart
// by its arguments, which are Kitex's generic.Args.
func declaredFunc(inv rpcinfo.Invocation) func() bool {
	return func() bool {
		if svc, ok := inv.Extra(rpcinfo.InvocationServiceInfoKey).(*serviceinfo.ServiceInfo); ok && svc != nil {
			return svc.Methods[inv.MethodName()] != nil
		}
		return !genericArgs(inv.MethodInfo())
	}
}

// kitexGenericPkgs are where Kitex's generic argument types live
// (pkg/generic's Args is an alias of internal/generic's).
var kitexGenericPkgs = [...]string{"github.com/cloudwego/kitex/internal/generic", "github.com/cloudwego/kitex/pkg/generic"}

// genericArgs reports whether mi's arguments are Kitex generic arguments.
// A MethodInfo built without an arguments constructor panics in NewArgs;
// such a method is taken as declared.
func genericArgs(mi serviceinfo.MethodInfo) (generic bool) {
	if mi == nil {
		return false
	}
	defer func() {
		if recover() != nil {
			generic = false
		}
	}()
	t := reflect.TypeOf(mi.NewArgs())
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return false
	}
	for _, p := range kitexGenericPkgs {
		if strings.HasPrefix(t.PkgPath(), p) {
			return true
		}
	}
	return false
}

// grpcCodeNames are the canonical upper-case names of gRPC status codes.
var grpcCodeNames = [...]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELLED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}

// canonicalCode is the gRPC code for a failure that carries no gRPC status
// (it happened on this side of the wire).
func canonicalCode(errorType string) codes.Code {
	switch errorType {
	case ErrorTypeTimeout:
		return codes.DeadlineExceeded
	case ErrorTypeCanceled:
		return codes.Canceled
	case ErrorTypeACL:
		return codes.PermissionDenied
	case ErrorTypeOverLimit:
		return codes.ResourceExhausted
	case ErrorTypeUnknownMethod:
		return codes.Unimplemented
	case ErrorTypeRemote, ErrorTypeConnection, ErrorTypeServiceDiscovery, ErrorTypeCircuitBreak:
		return codes.Unavailable
	case ErrorTypePanic, ErrorTypeInternal:
		return codes.Internal
	}
	return codes.Unknown
}

// kitexServerCode is the gRPC status code Kitex's gRPC server sends for a
// handler or server error that is not a gRPC status itself (nphttp2's
// convertStatus): its table for Kitex error classes, a TransError's type
// id as the code, INTERNAL for anything else (a plain handler error).
func kitexServerCode(err error) codes.Code {
	switch {
	case errors.Is(err, kerrors.ErrOverlimit):
		return codes.ResourceExhausted
	case errors.Is(err, kerrors.ErrACL):
		return codes.PermissionDenied
	case errors.Is(err, kerrors.ErrRemoteOrNetwork):
		return codes.Unavailable
	}
	if te, ok := find[*remote.TransError](err); ok && !errors.Is(err, kerrors.ErrBiz) {
		return codes.Code(te.TypeID())
	}
	return codes.Internal
}

func grpcCodeName(c codes.Code) string {
	if int(c) < len(grpcCodeNames) {
		return grpcCodeNames[c]
	}
	return ErrorTypeOther
}

// FullMethodOf is FullMethod on the package's own table, for code outside
// a Suite; Suites use a Methods of their own.
func FullMethodOf(ri rpcinfo.RPCInfo) string {
	return defaultMethods.FullMethod(ri)
}

// SystemOf returns SystemGRPC for calls on Kitex's gRPC transport and
// SystemKitex otherwise.
func SystemOf(ri rpcinfo.RPCInfo) string {
	if ri != nil && ri.Config() != nil &&
		ri.Config().TransportProtocol()&(transport.GRPC|transport.GRPCStreaming) != 0 {
		return SystemGRPC
	}
	return SystemKitex
}

// FullMethodName is Declare on the package's own table.
func FullMethodName(pkg, service, method string) string {
	return defaultMethods.Declare(pkg, service, method)
}
