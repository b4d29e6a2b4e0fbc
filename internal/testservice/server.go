package testservice

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/cloudwego/kitex/client"
	"github.com/cloudwego/kitex/pkg/rpcinfo"
	"github.com/cloudwego/kitex/server"

	"github.com/kitexsuite/suite/internal/testservice/kitex_gen/echo/echoservice"
	excservice "github.com/kitexsuite/suite/internal/testservice/kitex_gen/echoexc/echoservice"
	pbecho "github.com/kitexsuite/suite/internal/testservice/kitex_gen/echopb/echoservice"
	pbstream "github.com/kitexsuite/suite/internal/testservice/kitex_gen/echopb/streamservice"
	ttstreamservice "github.com/kitexsuite/suite/internal/testservice/kitex_gen/echottstream/echoservice"
)

// Codec picks which generated service a server or client speaks.
type Codec int

// Codecs of the test service.
const (
	Thrift    Codec = iota
	Protobuf        // Kitex Protobuf / gRPC: EchoService and StreamService
	TTStream        // Thrift streams over TTHeader streaming
	Exception       // the Thrift service with a declared exception (echoexc, see ExceptionImpl)
)

// Server is a running Kitex server on a loopback port.
type Server struct {
	Addr string
	svr  server.Server
	done chan error
}

// Start runs a server for name on a fresh loopback port. The listener is
// bound before Start returns, so clients may dial at once.
func Start(name string, codec Codec, h *Handler, opts ...server.Option) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return StartOn(ln, name, codec, h, opts...)
}

// StartOn runs a server for name on ln, which it closes when it stops.
func StartOn(ln net.Listener, name string, codec Codec, h *Handler, opts ...server.Option) (*Server, error) {
	opts = append([]server.Option{
		server.WithListener(ln),
		server.WithServerBasicInfo(&rpcinfo.EndpointBasicInfo{ServiceName: name}),
		server.WithExitWaitTime(50 * time.Millisecond),
	}, opts...)
	var svr server.Server
	switch codec {
	case Thrift:
		svr = echoservice.NewServer(&ThriftImpl{Handler: h}, opts...)
	case Protobuf:
		svr = server.NewServer(opts...)
		impl := &ProtobufImpl{Handler: h}
		if err := pbecho.RegisterService(svr, impl); err != nil {
			_ = ln.Close()
			return nil, err
		}
		if err := pbstream.RegisterService(svr, impl); err != nil {
			_ = ln.Close()
			return nil, err
		}
	case TTStream:
		svr = ttstreamservice.NewServer(&TTStreamImpl{Handler: h}, opts...)
	case Exception:
		svr = excservice.NewServer(&ExceptionImpl{}, opts...)
	default:
		_ = ln.Close()
		return nil, fmt.Errorf("testservice: unknown codec %d", codec)
	}
	s := &Server{Addr: ln.Addr().String(), svr: svr, done: make(chan error, 1)}
	go func() { s.done <- svr.Run() }()
	return s, nil
}

// Stop stops the server and waits until Run has returned.
func (s *Server) Stop() error {
	err := s.svr.Stop()
	if rerr := <-s.done; err == nil && rerr != nil && !errors.Is(rerr, net.ErrClosed) {
		err = rerr
	}
	return err
}

// errNoResponse is a call that returned neither a response nor an error:
// what a Kitex client does with a business status error it never read.
var errNoResponse = errors.New("testservice: no response and no error")

// ThriftClient forwards Echo over a Thrift client.
func ThriftClient(c echoservice.Client) Forward {
	return func(ctx context.Context, req *Request) (*Response, error) {
		r, err := c.Echo(ctx, thriftRequest(req))
		if err != nil {
			return nil, err
		}
		if r == nil { // a business error the client did not read
			return nil, errNoResponse
		}
		return fromThriftResponse(r), nil
	}
}

// ProtobufClient forwards Echo over a Protobuf client.
func ProtobufClient(c pbecho.Client) Forward {
	return func(ctx context.Context, req *Request) (*Response, error) {
		r, err := c.Echo(ctx, protobufRequest(req))
		if err != nil {
			return nil, err
		}
		if r == nil { // a business error the client did not read
			return nil, errNoResponse
		}
		return fromProtobufResponse(r), nil
	}
}

// NewForward builds a client of the given codec for addr (or, when addr is
// empty, for whatever the resolver in opts finds) and returns it as a Forward.
func NewForward(codec Codec, service, addr string, opts ...client.Option) (Forward, error) {
	if addr != "" { // else opts carry a resolver
		opts = append([]client.Option{client.WithHostPorts(addr)}, opts...)
	}
	switch codec {
	case Thrift:
		c, err := echoservice.NewClient(service, opts...)
		if err != nil {
			return nil, err
		}
		return ThriftClient(c), nil
	case Protobuf:
		c, err := pbecho.NewClient(service, opts...)
		if err != nil {
			return nil, err
		}
		return ProtobufClient(c), nil
	}
	return nil, fmt.Errorf("testservice: unknown codec %d", codec)
}
