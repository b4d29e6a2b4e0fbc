module github.com/kitexsuite/suite/bench

go 1.26.0

require (
	github.com/kitexsuite/suite v0.0.0
	github.com/kitexsuite/suite/tracing v0.0.0
)

require github.com/kitex-contrib/obs-opentelemetry v0.3.0 // indirect

replace (
	github.com/kitexsuite/suite => ../
	github.com/kitexsuite/suite/tracing => ../tracing
)
