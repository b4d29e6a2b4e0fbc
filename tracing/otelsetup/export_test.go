package otelsetup_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kitexsuite/suite/tracing/otelsetup"
)

// TestOTLPExport sends a span through a Setup to a real OTLP receiver on
// loopback, over each protocol, configured only through the injected
// environment, and checks that Shutdown both flushes it and leaves no
// goroutine behind.
func TestOTLPExport(t *testing.T) {
	tests := []struct {
		name    string
		receive func(*testing.T) (*traceSink, string)
		env     func(addr string) map[string]string
		opts    []otelsetup.Option
		want    exportedSpan
	}{
		{
			name:    "grpc with http URL",
			receive: startGRPCReceiver,
			env: func(addr string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
					"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + addr,
					"OTEL_EXPORTER_OTLP_HEADERS":  "x-tenant=kitex",
				}
			},
			opts: []otelsetup.Option{otelsetup.WithServiceName("checkout")},
			want: exportedSpan{Name: "GetCart", ServiceName: "checkout", Tenant: "kitex"},
		},
		{
			name:    "grpc target with insecure flag",
			receive: startGRPCReceiver,
			env: func(addr string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
					"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": addr,
					"OTEL_EXPORTER_OTLP_INSECURE":        "true",
					"OTEL_EXPORTER_OTLP_COMPRESSION":     "gzip",
					"OTEL_SERVICE_NAME":                  "cart-from-env",
				}
			},
			want: exportedSpan{Name: "GetCart", ServiceName: "cart-from-env"},
		},
		{
			name:    "http/protobuf is the default",
			receive: startHTTPReceiver,
			env: func(url string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_ENDPOINT": url,
					"OTEL_EXPORTER_OTLP_HEADERS":  "x-tenant=kitex%20suite",
				}
			},
			opts: []otelsetup.Option{otelsetup.WithServiceName("checkout")},
			want: exportedSpan{Name: "GetCart", ServiceName: "checkout", Tenant: "kitex suite"},
		},
		{
			name:    "http/protobuf traces endpoint used as-is, gzip",
			receive: startHTTPReceiver,
			env: func(url string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_PROTOCOL":           "grpc", // overridden below
					"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL":    "http/protobuf",
					"OTEL_EXPORTER_OTLP_ENDPOINT":           "http://127.0.0.1:1", // overridden below
					"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":    url + "/custom/traces",
					"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
					"OTEL_RESOURCE_ATTRIBUTES":              "service.name=cart-from-attributes",
				}
			},
			want: exportedSpan{Name: "GetCart", ServiceName: "cart-from-attributes"},
		},
		{
			name:    "http/json",
			receive: startHTTPReceiver,
			env: func(url string) map[string]string {
				return map[string]string{
					"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
					"OTEL_EXPORTER_OTLP_ENDPOINT": url,
				}
			},
			opts: []otelsetup.Option{otelsetup.WithServiceName("checkout")},
			want: exportedSpan{Name: "GetCart", ServiceName: "checkout"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink, addr := tt.receive(t)
			// What runs now belongs to the test binary and the receiver;
			// anything else still running after Shutdown leaked from Setup.
			// (Not parallel: goleak would see the other subtests.)
			baseline := goleak.IgnoreCurrent()

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			opts := append(slices.Clone(tt.opts), otelsetup.WithEnv(envOf(tt.env(addr))))
			setup, err := otelsetup.New(ctx, opts...)
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			_, span := setup.TracerProvider().Tracer("otelsetup_test").Start(ctx, "GetCart")
			span.End()

			// No ForceFlush: Shutdown alone must deliver the buffered span.
			if err := setup.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown() error = %v", err)
			}
			goleak.VerifyNone(t, baseline)

			if got := sink.exported(); !slices.Contains(got, tt.want) {
				t.Errorf("receiver got %+v, want it to contain %+v", got, tt.want)
			}
		})
	}
}

// TestInjectedEnvOverridesProcessEnv checks that what WithEnv supplies wins
// over the process environment, which the SDK and the exporters read on their
// own. It needs t.Setenv, so it cannot run in parallel.
func TestInjectedEnvOverridesProcessEnv(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1") // nothing listens there
	t.Setenv("OTEL_SERVICE_NAME", "from-process")

	sink, url := startHTTPReceiver(t)
	baseline := goleak.IgnoreCurrent()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	setup, err := otelsetup.New(ctx, otelsetup.WithEnv(envOf(map[string]string{
		"OTEL_TRACES_SAMPLER":         "always_on",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT": url,
		"OTEL_SERVICE_NAME":           "from-lookup",
	})))
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	_, span := setup.TracerProvider().Tracer("otelsetup_test").Start(ctx, "GetCart")
	span.End()
	if err := setup.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() error = %v", err)
	}
	goleak.VerifyNone(t, baseline)

	want := exportedSpan{Name: "GetCart", ServiceName: "from-lookup"}
	if got := sink.exported(); !slices.Equal(got, []exportedSpan{want}) {
		t.Errorf("receiver got %+v, want [%+v]", got, want)
	}
}
