package otelsetup

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

const (
	envServiceName        = "OTEL_SERVICE_NAME"
	envResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"
)

// buildResource assembles the resource, later layers overriding earlier ones:
//
//  1. telemetry.sdk.* and service.name "unknown_service:<executable>";
//  2. OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME;
//  3. WithResource;
//  4. WithServiceName.
//
// We do not start from resource.Default(): it reads OTEL_RESOURCE_ATTRIBUTES
// from the process environment (once per process), which would bypass WithEnv.
func buildResource(ctx context.Context, env envSource, cfg config) (*resource.Resource, error) {
	base, err := resource.New(ctx, resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("otelsetup: detect SDK resource: %w", err)
	}

	fromEnv, err := resourceFromEnv(env)
	if err != nil {
		return nil, err
	}

	var code []attribute.KeyValue
	if cfg.serviceName != "" {
		code = append(code, semconv.ServiceName(cfg.serviceName))
	}

	// Our own layers are schemaless: service.name and the user's free-form
	// attributes mean the same in every semconv version, and a schemaless
	// resource merges with any schema URL without conflict.
	layers := []*resource.Resource{
		resource.NewSchemaless(semconv.ServiceName(defaultServiceName())),
		fromEnv,
		cfg.resource,
		resource.NewSchemaless(code...),
	}
	res := base
	for _, layer := range layers {
		if res, err = mergeResources(res, layer); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// mergeResources merges b over a. Two different schema URLs (a WithResource
// built against another semconv version than the SDK's) make resource.Merge
// fail, but it still returns every attribute without a schema URL. Losing the
// schema URL is far better than losing the service's identity, so we accept
// that result.
func mergeResources(a, b *resource.Resource) (*resource.Resource, error) {
	merged, err := resource.Merge(a, b)
	if errors.Is(err, resource.ErrSchemaURLConflict) {
		return merged, nil
	}
	if err != nil {
		return nil, fmt.Errorf("otelsetup: merge resources: %w", err)
	}
	return merged, nil
}

// resourceFromEnv parses OTEL_RESOURCE_ATTRIBUTES ("k1=v1,k2=v2", values
// percent-encoded) and OTEL_SERVICE_NAME, which overrides a service.name
// found in the former. Unlike the SDK, a malformed entry is an error rather
// than a logged warning.
func resourceFromEnv(env envSource) (*resource.Resource, error) {
	var attrs []attribute.KeyValue
	if raw := env.get(envResourceAttributes); raw != "" {
		for _, entry := range strings.Split(raw, ",") {
			if strings.TrimSpace(entry) == "" {
				continue // tolerate a trailing comma
			}
			key, value, found := strings.Cut(entry, "=")
			key = strings.TrimSpace(key)
			if !found || key == "" {
				return nil, &ConfigError{
					Var: envResourceAttributes, Value: raw,
					Reason: "entry " + strconv.Quote(entry) + " is not key=value",
				}
			}
			decoded, err := url.PathUnescape(strings.TrimSpace(value))
			if err != nil {
				return nil, &ConfigError{
					Var: envResourceAttributes, Value: raw,
					Reason: "value of " + strconv.Quote(key) + " is not percent-encoded", Err: err,
				}
			}
			attrs = append(attrs, attribute.String(key, decoded))
		}
	}
	if name := env.get(envServiceName); name != "" {
		attrs = append(attrs, semconv.ServiceName(name))
	}
	// NewSchemaless keeps the last value for a duplicate key, so
	// OTEL_SERVICE_NAME, appended last, wins.
	return resource.NewSchemaless(attrs...), nil
}

// defaultServiceName is the spec's fallback, "unknown_service:" followed by
// the executable name, matching what resource.Default() would report.
func defaultServiceName() string {
	exe, err := os.Executable()
	if err != nil {
		return "unknown_service:go"
	}
	return "unknown_service:" + filepath.Base(exe)
}
