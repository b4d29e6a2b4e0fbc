package otelsetup

import (
	"crypto/tls"
	"errors"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

const (
	envTracesExporter = "OTEL_TRACES_EXPORTER"

	envProtocol          = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol    = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	envEndpoint          = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint    = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envInsecure          = "OTEL_EXPORTER_OTLP_INSECURE"
	envTracesInsecure    = "OTEL_EXPORTER_OTLP_TRACES_INSECURE"
	envHeaders           = "OTEL_EXPORTER_OTLP_HEADERS"
	envTracesHeaders     = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	envTimeout           = "OTEL_EXPORTER_OTLP_TIMEOUT"
	envTracesTimeout     = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
	envCompression       = "OTEL_EXPORTER_OTLP_COMPRESSION"
	envTracesCompression = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"

	protocolGRPC         = "grpc"
	protocolHTTPProtobuf = "http/protobuf"
	protocolHTTPJSON     = "http/json"

	// tracesPath is appended to the generic OTEL_EXPORTER_OTLP_ENDPOINT for
	// OTLP/HTTP; the signal-specific variable is used as-is (spec rule).
	tracesPath = "/v1/traces"
)

// otlpSettings is the OTLP exporter configuration read from the environment.
// Zero values mean "not set": the exporter then keeps its own default.
type otlpSettings struct {
	protocol string
	// endpoint is the full URL for OTLP/HTTP and the dial target for gRPC.
	endpoint    string
	insecure    *bool
	headers     map[string]string
	timeout     *time.Duration
	compression string // "", "gzip" or "none"
	tls         *tls.Config
}

// otlpSettingsFromEnv parses every OTLP variable, returning nil settings when
// OTEL_TRACES_EXPORTER is "none". It opens no connection, so a config error
// leaves nothing to clean up.
func otlpSettingsFromEnv(env envSource) (*otlpSettings, error) {
	enabled, err := otlpEnabled(env)
	if err != nil || !enabled {
		return nil, err
	}

	s := &otlpSettings{}
	var errs []error
	add := func(err error) { errs = append(errs, err) }

	name, raw := env.first(envTracesProtocol, envProtocol)
	switch raw {
	case "":
		s.protocol = protocolHTTPProtobuf // spec default
	case protocolGRPC, protocolHTTPProtobuf, protocolHTTPJSON:
		s.protocol = raw
	default:
		add(&ConfigError{Var: name, Value: raw, Reason: "unknown protocol; want grpc, http/protobuf or http/json"})
	}

	var insecureVar *bool
	if name, raw := env.first(envTracesInsecure, envInsecure); raw != "" {
		b, err := parseBool(name, raw)
		add(err)
		insecureVar = &b
	}
	if name, raw := env.first(envTracesEndpoint, envEndpoint); raw != "" {
		switch s.protocol {
		case protocolGRPC:
			var err error
			s.endpoint, s.insecure, err = grpcTarget(name, raw)
			add(err)
		case protocolHTTPProtobuf, protocolHTTPJSON:
			var err error
			s.endpoint, s.insecure, err = httpEndpoint(name, raw)
			add(err)
		}
	}
	// The spec lets OTEL_EXPORTER_OTLP_INSECURE decide only for gRPC targets
	// without an http(s) scheme; a scheme always says it explicitly.
	if s.insecure == nil && s.protocol == protocolGRPC {
		s.insecure = insecureVar
	}

	if name, raw := env.first(envTracesHeaders, envHeaders); raw != "" {
		var err error
		s.headers, err = parseHeaders(name, raw)
		add(err)
	}
	if name, raw := env.first(envTracesTimeout, envTimeout); raw != "" {
		d, err := parseMillis(name, raw)
		add(err)
		s.timeout = &d
	}
	if name, raw := env.first(envTracesCompression, envCompression); raw != "" {
		switch raw {
		case "gzip", "none":
			s.compression = raw
		default:
			add(&ConfigError{Var: name, Value: raw, Reason: "unknown compression; want gzip or none"})
		}
	}
	s.tls, err = tlsFromEnv(env, s.insecure != nil && *s.insecure)
	add(err)

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// otlpEnabled reads OTEL_TRACES_EXPORTER. Only "otlp" (the default) and
// "none" are available: other exporters would each add a dependency to this
// module, so they are rejected rather than ignored.
func otlpEnabled(env envSource) (bool, error) {
	raw := env.get(envTracesExporter)
	if raw == "" {
		return true, nil
	}
	seen := map[string]bool{}
	for _, entry := range strings.Split(raw, ",") {
		name := strings.ToLower(strings.TrimSpace(entry))
		switch name {
		case "":
		case "otlp", "none":
			seen[name] = true
		default:
			return false, &ConfigError{
				Var: envTracesExporter, Value: raw,
				Reason: "unsupported exporter " + strconv.Quote(name) + "; want otlp or none",
			}
		}
	}
	if seen["none"] && seen["otlp"] {
		return false, &ConfigError{
			Var: envTracesExporter, Value: raw,
			Reason: `"none" cannot be combined with other exporters`,
		}
	}
	return !seen["none"], nil
}

// grpcTarget turns an endpoint into a gRPC dial target. An http(s) URL gives
// host:port and decides transport security; anything else ("collector:4317",
// "dns:///collector:4317", "unix:///run/otel.sock") is a gRPC target passed
// through as-is, which is what the exporter does with the same variable.
func grpcTarget(name, raw string) (string, *bool, error) {
	lower := strings.ToLower(raw)
	if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return "", nil, &ConfigError{Var: name, Value: raw, Reason: "want host:port after the scheme", Err: err}
		}
		plain := strings.EqualFold(u.Scheme, "http")
		return u.Host, &plain, nil
	}
	if strings.HasPrefix(lower, "unix:") {
		plain := true // a local socket needs no TLS; the exporter agrees
		return raw, &plain, nil
	}
	return raw, nil, nil
}

// httpEndpoint resolves the OTLP/HTTP URL. The generic variable is a base URL
// to which /v1/traces is appended; the traces-specific one is used as-is.
func httpEndpoint(name, raw string) (string, *bool, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", nil, &ConfigError{
			Var: name, Value: raw, Reason: "want an absolute http:// or https:// URL", Err: err,
		}
	}
	target := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawQuery: u.RawQuery}
	if name == envEndpoint {
		target.Path = path.Join(u.Path, tracesPath)
	}
	plain := u.Scheme == "http"
	return target.String(), &plain, nil
}

// parseHeaders parses "k1=v1,k2=v2" with percent-encoded values. Errors
// redact the value: these headers usually carry API keys.
func parseHeaders(name, raw string) (map[string]string, error) {
	headers := map[string]string{}
	for _, entry := range strings.Split(raw, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		key, value, found := strings.Cut(entry, "=")
		key = strings.TrimSpace(key)
		if !found || !validHeaderKey(key) {
			return nil, &ConfigError{
				Var: name, Value: redacted,
				Reason: "an entry is not key=value with a valid header name",
			}
		}
		decoded, err := url.PathUnescape(strings.TrimSpace(value))
		if err != nil {
			// Do not wrap err: its message quotes the secret value.
			return nil, &ConfigError{
				Var: name, Value: redacted,
				Reason: "value of " + strconv.Quote(key) + " is not percent-encoded",
			}
		}
		headers[key] = decoded
	}
	return headers, nil
}

// validHeaderKey reports whether key is an RFC 9110 token, the only thing
// both HTTP and gRPC metadata accept as a header name.
func validHeaderKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}
