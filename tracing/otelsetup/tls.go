package otelsetup

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
)

const (
	envCertificate             = "OTEL_EXPORTER_OTLP_CERTIFICATE"
	envTracesCertificate       = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"
	envClientCertificate       = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
	envTracesClientCertificate = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"
	envClientKey               = "OTEL_EXPORTER_OTLP_CLIENT_KEY"
	envTracesClientKey         = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"
)

// tlsFromEnv builds the client TLS config from the certificate variables, or
// returns nil when none is set. We read them ourselves because the OTLP/HTTP
// exporter ignores its own certificate handling once given our http.Client
// (see newHTTPExporter), and reading them for gRPC too keeps both protocols
// configured the same way. A file that cannot be read is an error, where the
// exporter would log it and connect without the certificate.
func tlsFromEnv(env envSource, insecure bool) (*tls.Config, error) {
	caVar, caFile := env.first(envTracesCertificate, envCertificate)
	certVar, certFile := env.first(envTracesClientCertificate, envClientCertificate)
	keyVar, keyFile := env.first(envTracesClientKey, envClientKey)
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}

	var errs []error
	// A certificate next to a plain-text endpoint means one of the two is a
	// mistake; sending spans unencrypted is not the safe guess.
	if insecure {
		v, f := caVar, caFile
		if v == "" {
			v, f = certVar, certFile
		}
		if v == "" {
			v, f = keyVar, keyFile
		}
		errs = append(errs, &ConfigError{
			Var: v, Value: f, Reason: "TLS certificate set for a plain-text (http:// or insecure) endpoint",
		})
	}

	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		pool := x509.NewCertPool()
		switch {
		case err != nil:
			errs = append(errs, &ConfigError{Var: caVar, Value: caFile, Reason: "cannot read CA certificate", Err: err})
		case !pool.AppendCertsFromPEM(pem):
			errs = append(errs, &ConfigError{Var: caVar, Value: caFile, Reason: "no PEM certificate found"})
		default:
			cfg.RootCAs = pool
		}
	}
	switch {
	case certFile != "" && keyFile != "":
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			errs = append(errs, &ConfigError{Var: certVar, Value: certFile, Reason: "cannot load client key pair", Err: err})
		} else {
			cfg.Certificates = []tls.Certificate{pair}
		}
	case certFile != "":
		errs = append(errs, &ConfigError{Var: certVar, Value: certFile, Reason: "set without " + envClientKey})
	case keyFile != "":
		errs = append(errs, &ConfigError{Var: keyVar, Value: keyFile, Reason: "set without " + envClientCertificate})
	}

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}
