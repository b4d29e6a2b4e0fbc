package rpcmodel

import (
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/transport"
	"sync"

	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/codes"
)

type methodKey struct{ pkg, svc, method string }

// fullMethods interns "pkg.Service/Method" strings. Only methods the service
// definition knows reach it, so it is bounded by the size of the IDL.
var fullMethods sync.Map // methodKey -> string

func fullMethod(pkg, svc, method string) string {
	k := methodKey{pkg, svc, method}
	if v, ok := fullMethods.Load(k); ok {
		return v.(string)
	}
	s := svc + "/" + method
	if pkg != "" {
		s = pkg + "." + s
	}
	v, _ := fullMethods.LoadOrStore(k, s)
	return v.(string)
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

func grpcCodeName(c codes.Code) string {
	if int(c) < len(grpcCodeNames) {
		return grpcCodeNames[c]
	}
	return ErrorTypeOther
}

// FullMethodOf returns the fully-qualified method of the call ri describes
// ("package.Service/Method"), or OtherMethod when the service definition
// does not know the method. The string is interned: no allocation after the
// first call per method.
func FullMethodOf(ri rpcinfo.RPCInfo) string {
	if ri == nil {
		return OtherMethod
	}
	inv := ri.Invocation()
	if inv == nil || inv.MethodInfo() == nil || inv.MethodName() == "" {
		return OtherMethod
	}
	return fullMethod(inv.PackageName(), inv.ServiceName(), inv.MethodName())
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

// FullMethodName is the fully-qualified method name for a method the
// service definition knows ("package.Service/Method", or "Service/Method"
// without a package), interned like FullMethodOf's.
func FullMethodName(pkg, service, method string) string {
	return fullMethod(pkg, service, method)
}
