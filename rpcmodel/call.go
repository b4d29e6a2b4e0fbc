package rpcmodel

import (
	"net"
	"strconv"
	"time"

	"github.com/cloudwego/kitex/pkg/kerrors"
	"github.com/cloudwego/kitex/pkg/remote/trans/nphttp2/codes"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/pkg/serviceinfo"
	"github.com/cloudwego/kitex/pkg/stats"
	"github.com/cloudwego/kitex/transport"
)

// Side says which end of the call a record describes.
type Side uint8

// Sides of an RPC.
const (
	Client Side = iota + 1
	Server
)

// String returns "client" or "server".
func (s Side) String() string {
	if s == Server {
		return "server"
	}
	return "client"
}

// Outcome is the three-valued result of a call.
type Outcome uint8

// Outcomes of a call.
const (
	Success  Outcome = iota // transport and handler succeeded
	BizError                // the handler returned a business status error
	Failure                 // the call failed; Call.ErrorType says how
)

// String returns "success", "biz_error" or "failure".
func (o Outcome) String() string {
	switch o {
	case BizError:
		return "biz_error"
	case Failure:
		return "failure"
	}
	return "success"
}

// RPC system names, the value of the `rpc.system.name` attribute.
const (
	SystemKitex = "kitex" // TTHeader, Framed or buffered transports
	SystemGRPC  = "grpc"  // Kitex's gRPC (HTTP/2) transport
)

// OtherMethod stands in for any method the service definition does not know.
const OtherMethod = "_OTHER"

// Call is everything the signals report about one RPC. Fill it with Derive;
// the zero value is an empty record. Strings are shared with Kitex's own
// (immutable) strings or interned, so a Call may be kept after the RPC ends.
type Call struct {
	Side   Side
	System string // SystemKitex or SystemGRPC

	Package        string // IDL package, may be empty
	Service        string // IDL service name, e.g. "EchoService"
	Method         string // method name, or OtherMethod
	OriginalMethod string // the method asked for; set only when Method is OtherMethod
	FullMethod     string // "package.Service/Method" (or "Service/Method"), or OtherMethod

	Caller string // service name of the calling side (may be empty on the server side)
	Callee string // service name of the called side

	// ServerAddr is the server end of the connection: the chosen instance on
	// the client side, the local listener on the server side (nil if Kitex did
	// not record it). PeerAddr is the other end of the connection.
	ServerAddr net.Addr
	PeerAddr   net.Addr

	Protocol          string             // transport protocol, see ProtocolName
	TransportProtocol transport.Protocol // the raw Kitex value Protocol was named from
	Codec             string             // "thrift", "protobuf", "hessian2" or ""
	Streaming         serviceinfo.StreamingMode

	Outcome    Outcome
	ErrorType  string // ClassifyError of the failure, "" unless Outcome is Failure
	Err        error  // the error the call ended with (nil on Success)
	BizCode    int32  // business status code when Outcome is BizError
	BizMessage string
	Panicked   bool

	Retries int // client: attempts Kitex made before the last one (its retry tag)

	RequestSize  uint64 // bytes sent (client) or received (server)
	ResponseSize uint64

	Start time.Time // RPCStart; zero if stats are disabled
	End   time.Time // RPCFinish; zero if stats are disabled
}

// Duration is End-Start, or 0 when either is unknown.
func (c *Call) Duration() time.Duration {
	if c.Start.IsZero() || c.End.IsZero() {
		return 0
	}
	return c.End.Sub(c.Start)
}

// StatusCode is the value of `rpc.response.status_code`: "OK" on success;
// the business status code in decimal on a business error; on a failure on
// the gRPC transport, the gRPC status code name (the status the peer sent,
// the status this server sends, or the canonical code for the ErrorType of
// a local failure); on other transports, the ErrorType.
func (c *Call) StatusCode() string {
	switch c.Outcome {
	case Success:
		return "OK"
	case BizError:
		return strconv.FormatInt(int64(c.BizCode), 10)
	}
	if c.System == SystemGRPC && c.ErrorType != ErrorTypeException {
		if code, ok := c.grpcCode(); ok {
			return grpcCodeName(code)
		}
		return grpcCodeName(canonicalCode(c.ErrorType))
	}
	return c.ErrorType
}

// ServerFault reports whether a failed call seen by a server was the
// server's own fault, which is what makes a server span Error and, on gRPC,
// what the conventions count as a failed call on the server's duration
// metric (error.type). On gRPC these are the codes the conventions list:
// UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and
// DATA_LOSS (otelgrpc v0.72.0 applies the same list), so a NOT_FOUND the
// handler answers is not. On Kitex's own transports client mistakes (an
// unknown method, a cancelled call, an ACL or limit rejection) and
// exceptions the IDL declares (the application's answer, like a gRPC
// NOT_FOUND) are not either. A call that did not fail is never a fault.
func (c *Call) ServerFault() bool {
	if c.Outcome != Failure {
		return false
	}
	if c.System == SystemGRPC {
		switch c.StatusCode() {
		case "UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS":
			return true
		}
		return false
	}
	switch c.ErrorType {
	case ErrorTypeUnknownMethod, ErrorTypeCanceled, ErrorTypeException, ErrorTypeACL, ErrorTypeOverLimit:
		return false
	}
	return true
}

// grpcCode is the status a gRPC failure carries on the wire: on the client
// the one the peer sent, on the server the one Kitex sends for the
// handler's error (its own status, or Kitex's mapping of its error).
func (c *Call) grpcCode() (codes.Code, bool) {
	if code, ok := grpcStatus(c.Err); ok {
		return code, true
	}
	if c.Side != Server || c.Err == nil || c.Panicked {
		return codes.OK, false
	}
	return kitexServerCode(c.Err), true
}

// Derive fills c from ri and the error the call ended with. err may be nil
// when Kitex recorded the error in ri.Stats() instead. Derive reads ri but
// keeps no reference to it or its parts.
func Derive(c *Call, side Side, ri rpcinfo.RPCInfo, err error) {
	DeriveWith(c, side, ri, err, nil)
}

// ConfigSnapshot is the part of a call's rpcinfo.RPCConfig that Derive
// reads, taken when the call starts.
type ConfigSnapshot struct {
	Transport transport.Protocol
	Codec     serviceinfo.PayloadCodec
}

// SnapshotConfig reads ri's transport and codec.
func SnapshotConfig(ri rpcinfo.RPCInfo) ConfigSnapshot {
	if ri == nil || ri.Config() == nil {
		return ConfigSnapshot{}
	}
	return ConfigSnapshot{Transport: ri.Config().TransportProtocol(), Codec: ri.Config().PayloadCodec()}
}

// DeriveWith is Derive with the configuration taken from snap when it is
// not nil. A client whose RPC timed out finishes while Kitex's timeout
// worker may still be decoding the late reply into the same RPCConfig
// (which the race detector reports); a snapshot taken at Start avoids
// reading it then.
func DeriveWith(c *Call, side Side, ri rpcinfo.RPCInfo, err error, snap *ConfigSnapshot) {
	defaultMethods.DeriveWith(c, side, ri, err, snap)
}

// Derive is the package-level Derive with methods named by t.
func (t *Methods) Derive(c *Call, side Side, ri rpcinfo.RPCInfo, err error) {
	t.DeriveWith(c, side, ri, err, nil)
}

// DeriveWith is the package-level DeriveWith with methods named by t.
func (t *Methods) DeriveWith(c *Call, side Side, ri rpcinfo.RPCInfo, err error, snap *ConfigSnapshot) {
	*c = Call{Side: side}
	if ri == nil {
		c.System, c.Method, c.FullMethod = SystemKitex, OtherMethod, OtherMethod
		c.setError(err, false)
		return
	}
	var tp transport.Protocol
	if snap != nil {
		tp = snap.Transport
		c.Codec = codecName(snap.Codec)
	} else if cfg := ri.Config(); cfg != nil {
		tp = cfg.TransportProtocol()
		c.Codec = codecName(cfg.PayloadCodec())
	}
	c.Protocol, c.TransportProtocol = ProtocolName(tp), tp
	c.System = SystemKitex
	if tp&(transport.GRPC|transport.GRPCStreaming) != 0 {
		c.System = SystemGRPC
	}

	if inv := ri.Invocation(); inv != nil {
		c.Package, c.Service = inv.PackageName(), inv.ServiceName()
		mi := inv.MethodInfo()
		c.setMethod(t, inv, mi != nil)
		if mi != nil {
			c.Streaming = mi.StreamingMode()
		}
	} else {
		c.setMethod(t, nil, false)
	}

	if from := ri.From(); from != nil {
		c.Caller = from.ServiceName()
	}
	if to := ri.To(); to != nil {
		c.Callee = to.ServiceName()
	}
	if side == Client {
		if to := ri.To(); to != nil {
			c.ServerAddr = to.Address()
			c.PeerAddr = c.ServerAddr
			if v, ok := to.Tag(rpcinfo.RetryTag); ok {
				c.Retries, _ = strconv.Atoi(v)
			}
		}
	} else {
		if to := ri.To(); to != nil {
			c.ServerAddr = to.Address()
		}
		if from := ri.From(); from != nil {
			c.PeerAddr = from.Address()
		}
	}

	panicked := false
	if st := ri.Stats(); st != nil {
		if err == nil {
			err = st.Error()
		}
		panicked, _ = st.Panicked()
		if side == Client {
			c.RequestSize, c.ResponseSize = st.SendSize(), st.RecvSize()
		} else {
			c.RequestSize, c.ResponseSize = st.RecvSize(), st.SendSize()
		}
		if e := st.GetEvent(stats.RPCStart); e != nil && !e.IsNil() {
			c.Start = e.Time()
		}
		if e := st.GetEvent(stats.RPCFinish); e != nil && !e.IsNil() {
			c.End = e.Time()
		}
	}
	// A transport error wins over a business status, as in Kitex: a call
	// that timed out is a timeout even if the late reply carried one.
	var exc error
	if inv := ri.Invocation(); err == nil && inv != nil {
		if be := inv.BizStatusErr(); be != nil {
			err = be
		} else {
			exc = exceptionOf(inv)
		}
	}
	c.setError(err, panicked)
	if exc != nil && c.Outcome == Success {
		c.Outcome, c.ErrorType, c.Err = Failure, ErrorTypeException, exc
	}
	if c.Outcome == Failure && c.Method == OtherMethod && c.OriginalMethod != "" &&
		(c.ErrorType == ErrorTypeInternal || c.ErrorType == ErrorTypeOther) {
		// Kitex reports a call to a method the service does not define as a
		// plain internal exception; name it for what it is.
		c.ErrorType = ErrorTypeUnknownMethod
	}
	if c.Outcome == Failure && c.System == SystemGRPC && c.ErrorType != ErrorTypeException {
		// The conventions' error.type for a gRPC failure with a status is
		// the status code name.
		if code, ok := c.grpcCode(); ok {
			c.ErrorType = grpcCodeName(code)
		}
	}
}

func (c *Call) setMethod(t *Methods, inv rpcinfo.Invocation, known bool) {
	var name string
	if inv != nil {
		name = inv.MethodName()
	}
	if known && name != "" {
		if full, ok := t.lookup(c.Package, c.Service, name, declaredFunc(inv)); ok {
			c.Method, c.FullMethod = name, full
			return
		}
	}
	c.Method, c.FullMethod, c.OriginalMethod = OtherMethod, OtherMethod, name
}

func (c *Call) setError(err error, panicked bool) {
	c.Panicked = panicked
	switch {
	case panicked:
		c.Outcome, c.ErrorType, c.Err = Failure, ErrorTypePanic, err
	case err == nil:
		c.Outcome = Success
	default:
		c.Err = err
		if be, ok := find[kerrors.BizStatusErrorIface](err); ok {
			c.Outcome, c.BizCode, c.BizMessage = BizError, be.BizStatusCode(), be.BizMessage()
			return
		}
		c.Outcome, c.ErrorType = Failure, ClassifyError(err)
	}
}

// ProtocolName names a Kitex transport protocol with a short, bounded,
// lower-case string: "grpc", "ttheader_streaming", "ttheader_framed",
// "ttheader", "framed", "http", "hessian2" or "buffered" (Kitex's
// PurePayload). It does not allocate, unlike transport.Protocol.String.
func ProtocolName(tp transport.Protocol) string {
	switch {
	case tp&(transport.GRPC|transport.GRPCStreaming) != 0:
		return "grpc"
	case tp&transport.TTHeaderStreaming != 0:
		return "ttheader_streaming"
	case tp&transport.TTHeaderFramed == transport.TTHeaderFramed:
		return "ttheader_framed"
	case tp&transport.TTHeader != 0:
		return "ttheader"
	case tp&transport.Framed != 0:
		return "framed"
	case tp&transport.HTTP != 0:
		return "http"
	case tp&transport.HESSIAN2 != 0:
		return "hessian2"
	}
	return "buffered"
}

func codecName(pc serviceinfo.PayloadCodec) string {
	switch pc {
	case serviceinfo.Thrift:
		return "thrift"
	case serviceinfo.Protobuf:
		return "protobuf"
	case serviceinfo.Hessian2:
		return "hessian2"
	}
	return ""
}

// HostPort splits a net.Addr into host and port without a string round trip
// for TCP addresses; port is 0 when the address has none.
func HostPort(a net.Addr) (host string, port int) {
	switch v := a.(type) {
	case nil:
		return "", 0
	case *net.TCPAddr:
		return v.IP.String(), v.Port
	case *net.UnixAddr:
		return v.Name, 0
	}
	s := a.String()
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return s, 0
	}
	port, _ = strconv.Atoi(p)
	return h, port
}

// Transport returns the OSI transport of an address for
// `network.transport`: "tcp", "unix", "udp" or "".
func Transport(a net.Addr) string {
	if a == nil {
		return ""
	}
	switch a.Network() {
	case "tcp", "tcp4", "tcp6":
		return "tcp"
	case "unix", "unixpacket":
		return "unix"
	case "udp", "udp4", "udp6":
		return "udp"
	}
	return ""
}
