package otelsetup_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/kitexsuite/suite/tracing/otelsetup"
)

// newResource returns the resource New builds for env and opts, with no
// exporter so that nothing is started.
func newResource(t *testing.T, env map[string]string, opts ...otelsetup.Option) *resource.Resource {
	t.Helper()
	lookup := func(name string) string {
		if name == "OTEL_TRACES_EXPORTER" {
			return "none"
		}
		return env[name]
	}
	opts = append(slices.Clone(opts), otelsetup.WithEnv(lookup))
	setup, err := otelsetup.New(context.Background(), opts...)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	t.Cleanup(func() { _ = setup.Shutdown(context.Background()) })
	return setup.Resource()
}

func attr(res *resource.Resource, key attribute.Key) string {
	v, _ := res.Set().Value(key)
	return v.Emit()
}

func TestServiceNamePrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		opts []otelsetup.Option
		want string
	}{
		{
			name: "WithServiceName beats the environment",
			env:  map[string]string{"OTEL_SERVICE_NAME": "env", "OTEL_RESOURCE_ATTRIBUTES": "service.name=attrs"},
			opts: []otelsetup.Option{otelsetup.WithServiceName("code")},
			want: "code",
		},
		{
			name: "WithResource beats the environment",
			env:  map[string]string{"OTEL_SERVICE_NAME": "env"},
			opts: []otelsetup.Option{otelsetup.WithResource(resource.NewSchemaless(semconv.ServiceName("resource")))},
			want: "resource",
		},
		{
			name: "WithServiceName beats WithResource",
			opts: []otelsetup.Option{
				otelsetup.WithServiceName("code"),
				otelsetup.WithResource(resource.NewSchemaless(semconv.ServiceName("resource"))),
			},
			want: "code",
		},
		{
			name: "OTEL_SERVICE_NAME beats OTEL_RESOURCE_ATTRIBUTES",
			env:  map[string]string{"OTEL_SERVICE_NAME": "env", "OTEL_RESOURCE_ATTRIBUTES": "service.name=attrs"},
			want: "env",
		},
		{
			name: "OTEL_RESOURCE_ATTRIBUTES alone",
			env:  map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=attrs"},
			want: "attrs",
		},
		{
			name: "empty WithServiceName leaves the environment in charge",
			env:  map[string]string{"OTEL_SERVICE_NAME": "env"},
			opts: []otelsetup.Option{otelsetup.WithServiceName("")},
			want: "env",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := attr(newResource(t, tt.env, tt.opts...), semconv.ServiceNameKey); got != tt.want {
				t.Errorf("service.name = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefaultServiceName(t *testing.T) {
	t.Parallel()
	got := attr(newResource(t, map[string]string{}), semconv.ServiceNameKey)
	if !strings.HasPrefix(got, "unknown_service:") {
		t.Errorf("service.name = %q, want the unknown_service:<executable> fallback", got)
	}
}

func TestResourceAttributesFromEnv(t *testing.T) {
	t.Parallel()
	res := newResource(t, map[string]string{
		"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod%20eu, team = payments ,",
	})
	for key, want := range map[attribute.Key]string{
		"deployment.environment.name":   "prod eu",
		"team":                          "payments",
		semconv.TelemetrySDKLanguageKey: "go",
	} {
		if got := attr(res, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	// Our own layers are schemaless, so the SDK's schema URL survives.
	if got := res.SchemaURL(); got != semconv.SchemaURL {
		t.Errorf("schema URL = %q, want %q", got, semconv.SchemaURL)
	}
}

// TestWithResourceSchemaConflict checks that a resource built against
// another semconv version is merged, not rejected: its attributes and the
// service name survive, only the schema URL is dropped.
func TestWithResourceSchemaConflict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, schemaURL, wantSchemaURL string
	}{
		{name: "same schema", schemaURL: semconv.SchemaURL, wantSchemaURL: semconv.SchemaURL},
		{name: "other schema", schemaURL: "https://opentelemetry.io/schemas/1.20.0", wantSchemaURL: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := newResource(t, map[string]string{},
				otelsetup.WithServiceName("checkout"),
				otelsetup.WithResource(resource.NewWithAttributes(tt.schemaURL, attribute.String("host.name", "node-1"))),
			)
			if got := attr(res, "host.name"); got != "node-1" {
				t.Errorf("host.name = %q, want node-1", got)
			}
			if got := attr(res, semconv.ServiceNameKey); got != "checkout" {
				t.Errorf("service.name = %q, want checkout", got)
			}
			if got := res.SchemaURL(); got != tt.wantSchemaURL {
				t.Errorf("schema URL = %q, want %q", got, tt.wantSchemaURL)
			}
		})
	}
}
