package rpcmodel

import (
	"context"
	"errors"

	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/remote"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/codes"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/status"
)

// ErrorType values: the complete, bounded set [ClassifyError] returns. They are
// used verbatim as the OpenTelemetry `error.type` attribute and metric label.
//
// On Kitex's own transports (TTHeader, Framed) the client and the server
// agree where both can know the cause: a handler's plain error is
// handler_error on both sides (Kitex replies with an internal-error
// exception, which the client classifies so), an unknown method is
// unknown_method on both. A business status error is not a failure (see
// Outcome). On the gRPC transport, following the RPC conventions, a failure
// that carries a gRPC status — sent by the peer, or about to be sent by this
// server — reports the status code name instead (NOT_FOUND, INTERNAL, ...;
// see [Call.StatusCode]); only failures that never reached the wire (a
// timeout, no instance) keep these classes.
const (
	ErrorTypeHandler          = "handler_error"     // the handler returned an error that is not a business status (server), or the server replied with an internal-error exception (client)
	ErrorTypeTimeout          = "timeout"           // kerrors.ErrRPCTimeout, ErrTimeoutByBusiness, context.DeadlineExceeded, gRPC DEADLINE_EXCEEDED
	ErrorTypeCanceled         = "canceled"          // kerrors.ErrCanceledByBusiness, context.Canceled, gRPC CANCELLED
	ErrorTypeCircuitBreak     = "circuit_break"     // kerrors.ErrCircuitBreak (service or instance breaker open)
	ErrorTypeACL              = "acl"               // kerrors.ErrACL, gRPC PERMISSION_DENIED / UNAUTHENTICATED
	ErrorTypeOverLimit        = "over_limit"        // kerrors.ErrOverlimit (QPS or connection limit), gRPC RESOURCE_EXHAUSTED
	ErrorTypeServiceDiscovery = "service_discovery" // kerrors.ErrServiceDiscovery, ErrNoInstance, ErrNoMoreInstance, ErrLoadbalance
	ErrorTypeConnection       = "connection"        // kerrors.ErrGetConnection: dialing or pooling failed
	ErrorTypeRemote           = "remote"            // kerrors.ErrRemoteOrNetwork: the peer or the network failed the call; gRPC UNAVAILABLE
	ErrorTypeUnknownMethod    = "unknown_method"    // the method is not in the service definition; gRPC UNIMPLEMENTED
	ErrorTypePanic            = "panic"             // the handler or a middleware panicked
	ErrorTypeRoute            = "route"             // kerrors.ErrRoute
	ErrorTypeValidation       = "payload_validation"
	ErrorTypeInternal         = "internal"  // kerrors.ErrInternalException not covered above
	ErrorTypeBizError         = "biz_error" // a business status error, when the signal counts it as an error
	ErrorTypeException        = "exception" // a Thrift exception the IDL declares (see MarkException); same on both sides
	ErrorTypeOther            = "_OTHER"    // anything else
)

// ErrorTypes lists every value ClassifyError can return, for pre-creating
// series and for documentation tests.
var ErrorTypes = []string{
	ErrorTypeHandler, ErrorTypeTimeout, ErrorTypeCanceled, ErrorTypeCircuitBreak, ErrorTypeACL,
	ErrorTypeOverLimit, ErrorTypeServiceDiscovery, ErrorTypeConnection,
	ErrorTypeRemote, ErrorTypeUnknownMethod, ErrorTypePanic, ErrorTypeRoute,
	ErrorTypeValidation, ErrorTypeInternal, ErrorTypeBizError, ErrorTypeException, ErrorTypeOther,
}

// ClassifyError maps an RPC error to one of the ErrorType constants, or ""
// for a nil error. Kitex wraps its classes in kerrors.DetailedError, whose Is
// matches the class, so the order below goes from the most specific cause
// (a timeout inside a remote error is a timeout) to the broadest class.
func ClassifyError(err error) string {
	if err == nil {
		return ""
	}
	if _, ok := find[kerrors.BizStatusErrorIface](err); ok {
		return ErrorTypeBizError
	}
	// Kitex wraps whatever a handler returns in ErrBiz, whatever the cause
	// (a downstream timeout included): the handler failed. Its client sees
	// an internal-error exception, classified the same below.
	if errors.Is(err, kerrors.ErrBiz) {
		return ErrorTypeHandler
	}
	switch {
	case errors.Is(err, kerrors.ErrRPCTimeout), errors.Is(err, kerrors.ErrTimeoutByBusiness),
		errors.Is(err, context.DeadlineExceeded):
		return ErrorTypeTimeout
	case errors.Is(err, kerrors.ErrCanceledByBusiness), errors.Is(err, context.Canceled):
		return ErrorTypeCanceled
	case errors.Is(err, kerrors.ErrCircuitBreak):
		return ErrorTypeCircuitBreak
	case errors.Is(err, kerrors.ErrACL):
		return ErrorTypeACL
	case errors.Is(err, kerrors.ErrOverlimit):
		return ErrorTypeOverLimit
	case errors.Is(err, kerrors.ErrServiceDiscovery), errors.Is(err, kerrors.ErrNoMoreInstance),
		errors.Is(err, kerrors.ErrLoadbalance):
		return ErrorTypeServiceDiscovery
	case errors.Is(err, kerrors.ErrGetConnection):
		return ErrorTypeConnection
	case errors.Is(err, kerrors.ErrPanic):
		return ErrorTypePanic
	case errors.Is(err, kerrors.ErrRoute):
		return ErrorTypeRoute
	case errors.Is(err, kerrors.ErrPayloadValidation):
		return ErrorTypeValidation
	}
	// gRPC status codes arrive both bare and inside ErrRemoteOrNetwork.
	if s, ok := grpcStatus(err); ok {
		switch s {
		case codes.DeadlineExceeded:
			return ErrorTypeTimeout
		case codes.Canceled:
			return ErrorTypeCanceled
		case codes.PermissionDenied, codes.Unauthenticated:
			return ErrorTypeACL
		case codes.ResourceExhausted:
			return ErrorTypeOverLimit
		case codes.Unimplemented:
			return ErrorTypeUnknownMethod
		case codes.Unavailable:
			return ErrorTypeRemote
		}
	}
	if te, ok := find[*remote.TransError](err); ok {
		switch te.TypeID() {
		case remote.InternalError:
			return ErrorTypeHandler
		case remote.UnknownMethod:
			return ErrorTypeUnknownMethod
		}
	}
	switch {
	case errors.Is(err, kerrors.ErrRemoteOrNetwork):
		return ErrorTypeRemote
	case errors.Is(err, kerrors.ErrInternalException):
		return ErrorTypeInternal
	}
	return ErrorTypeOther
}

func grpcStatus(err error) (codes.Code, bool) {
	if se, ok := find[status.Iface](err); ok {
		if s := se.GRPCStatus(); s != nil {
			return s.Code(), true
		}
	}
	return codes.OK, false
}

// find is errors.As for an interface target without its allocation (the
// target variable of errors.As escapes): it walks the same Unwrap tree and
// returns the first error implementing T.
func find[T any](err error) (T, bool) {
	for err != nil {
		if v, ok := err.(T); ok {
			return v, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if v, ok := find[T](e); ok {
					return v, true
				}
			}
			var zero T
			return zero, false
		default:
			err = nil
		}
	}
	var zero T
	return zero, false
}
