package otelsetup_test

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// exportedSpan is what a receiver saw of one span: enough to tell that it
// reached the collector under the right service and with the right headers.
type exportedSpan struct {
	Name        string
	ServiceName string
	Tenant      string // the x-tenant request header, set via OTEL_EXPORTER_OTLP_HEADERS
}

// traceSink collects the spans an in-process OTLP receiver was sent.
type traceSink struct {
	mu    sync.Mutex
	spans []exportedSpan
}

func (s *traceSink) record(req *coltracepb.ExportTraceServiceRequest, tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		var service string
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, span := range ss.GetSpans() {
				s.spans = append(s.spans, exportedSpan{Name: span.GetName(), ServiceName: service, Tenant: tenant})
			}
		}
	}
}

func (s *traceSink) exported() []exportedSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]exportedSpan(nil), s.spans...)
}

// grpcTraceService is the collector's OTLP/gRPC TraceService.
type grpcTraceService struct {
	coltracepb.UnimplementedTraceServiceServer
	sink *traceSink
}

func (s *grpcTraceService) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	var tenant string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("x-tenant"); len(v) > 0 {
			tenant = v[0]
		}
	}
	s.sink.record(req, tenant)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// startGRPCReceiver serves OTLP/gRPC on a loopback port until the test ends
// and returns the sink and the host:port.
func startGRPCReceiver(t *testing.T) (*traceSink, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	sink := &traceSink{}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, &grpcTraceService{sink: sink})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("grpc receiver: %v", err)
		}
	})
	return sink, lis.Addr().String()
}

// startHTTPReceiver serves OTLP/HTTP on a loopback port until the test ends
// and returns the sink and the base URL. It accepts POSTs on the standard
// /v1/traces path and on /custom/traces (for the signal-specific endpoint).
func startHTTPReceiver(t *testing.T) (*traceSink, string) {
	t.Helper()
	sink := &traceSink{}
	handle := func(w http.ResponseWriter, r *http.Request) {
		body := io.Reader(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			defer zr.Close()
			body = zr
		}
		data, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		switch ct := r.Header.Get("Content-Type"); ct {
		case "application/x-protobuf":
			err = proto.Unmarshal(data, &req)
		case "application/json":
			// OTLP/JSON writes IDs as hex where protojson expects base64;
			// the hex digits happen to decode, to wrong bytes. Only names
			// and attributes are checked, so that does not matter here.
			err = protojson.Unmarshal(data, &req)
		default:
			http.Error(w, "unsupported content type "+ct, http.StatusUnsupportedMediaType)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		sink.record(&req, r.Header.Get("X-Tenant"))
		resp, err := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", handle)
	mux.HandleFunc("POST /custom/traces", handle)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return sink, srv.URL
}
