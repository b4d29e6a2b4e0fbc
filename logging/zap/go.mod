module github.com/kitexsuite/suite/logging/zap

go 1.26

require (
	github.com/cloudwego/kitex v0.16.3
	github.com/kitexsuite/suite v0.0.0
	github.com/kitexsuite/suite/logging v0.0.0
	go.opentelemetry.io/contrib/bridges/otelzap v0.21.0
	go.opentelemetry.io/otel v1.47.0
	go.opentelemetry.io/otel/log v1.47.0
	go.opentelemetry.io/otel/sdk v1.47.0
	go.opentelemetry.io/otel/sdk/log v1.47.0
	go.opentelemetry.io/otel/trace v1.47.0
	go.uber.org/goleak v1.3.0
	go.uber.org/zap v1.28.0
)

replace github.com/kitexsuite/suite => ../../

replace github.com/kitexsuite/suite/logging => ../
