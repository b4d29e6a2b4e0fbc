package otelsetup

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// defaultExportTimeout is the spec's OTEL_EXPORTER_OTLP_TIMEOUT default. We
// need it for the http.Client we own, which the exporter does not configure.
const defaultExportTimeout = 10 * time.Second

// newOTLPExporter starts the exporter s describes. release frees what the
// exporter leaves behind after its own Shutdown; it is never nil.
func newOTLPExporter(ctx context.Context, s *otlpSettings) (exp sdktrace.SpanExporter, release func(), err error) {
	if s.protocol == protocolGRPC {
		exp, err = otlptracegrpc.New(ctx, grpcOptions(s)...)
		if err != nil {
			return nil, nil, fmt.Errorf("otelsetup: start OTLP/gRPC exporter: %w", err)
		}
		// The gRPC exporter owns its ClientConn and closes it on Shutdown.
		return exp, func() {}, nil
	}
	return newHTTPExporter(ctx, s)
}

// grpcOptions passes every variable present in the environment explicitly,
// so it overrides what the exporter read from the process environment.
func grpcOptions(s *otlpSettings) []otlptracegrpc.Option {
	var opts []otlptracegrpc.Option
	if s.endpoint != "" {
		opts = append(opts, otlptracegrpc.WithEndpoint(s.endpoint))
	}
	// Security goes through WithTLSCredentials even for plain text: the
	// exporter prefers credentials over WithInsecure, so a certificate it read
	// from the process environment would otherwise win.
	switch {
	case s.insecure != nil && *s.insecure:
		opts = append(opts, otlptracegrpc.WithTLSCredentials(insecure.NewCredentials()))
	case s.insecure != nil || s.tls != nil:
		cfg := s.tls
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(cfg)))
	}
	if s.headers != nil {
		opts = append(opts, otlptracegrpc.WithHeaders(s.headers))
	}
	if s.timeout != nil {
		opts = append(opts, otlptracegrpc.WithTimeout(*s.timeout))
	}
	// The gRPC exporter has no way to say "none" explicitly (it logs an
	// error for any compressor but gzip), so "none" keeps its default.
	if s.compression == "gzip" {
		opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
	}
	return opts
}

// newHTTPExporter starts an OTLP/HTTP exporter on an http.Client we own. The
// exporter's default client shares a package-level transport that nobody
// closes, so its keep-alive connections (two goroutines each) would outlive
// Shutdown; with our own transport, release closes them.
func newHTTPExporter(ctx context.Context, s *otlpSettings) (sdktrace.SpanExporter, func(), error) {
	timeout := defaultExportTimeout
	if s.timeout != nil {
		timeout = *s.timeout
	}
	encoding := otlptracehttp.EncodingProtobuf
	if s.protocol == protocolHTTPJSON {
		encoding = otlptracehttp.EncodingJSON
	}
	transport := newHTTPTransport(s.tls)
	opts := []otlptracehttp.Option{
		otlptracehttp.WithHTTPClient(&http.Client{Transport: transport, Timeout: timeout}),
		// Our client carries the TLS config. Handing it (even nil) to the
		// exporter as well keeps its start-up check of plain text against TLS
		// in line with our client, instead of with a certificate it read from
		// the process environment.
		otlptracehttp.WithTLSClientConfig(s.tls),
		otlptracehttp.WithTimeout(timeout),
		// Always explicit: the exporter reads the protocol variables from the
		// process environment too.
		otlptracehttp.WithEncoding(encoding),
	}
	if s.endpoint != "" {
		// WithEndpointURL sets host, path and plain-text-or-TLS in one go.
		opts = append(opts, otlptracehttp.WithEndpointURL(s.endpoint))
	}
	if s.headers != nil {
		opts = append(opts, otlptracehttp.WithHeaders(s.headers))
	}
	switch s.compression {
	case "gzip":
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	case "none":
		opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
	}

	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		transport.CloseIdleConnections()
		return nil, nil, fmt.Errorf("otelsetup: start OTLP/HTTP exporter: %w", err)
	}
	return exp, transport.CloseIdleConnections, nil
}

// newHTTPTransport mirrors http.DefaultTransport (as the exporter's own
// transport does) plus our TLS config.
func newHTTPTransport(cfg *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       cfg,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}
