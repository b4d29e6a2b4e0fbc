package otelsetup

import (
	"errors"
	"strconv"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

const (
	envBSPScheduleDelay      = "OTEL_BSP_SCHEDULE_DELAY"
	envBSPExportTimeout      = "OTEL_BSP_EXPORT_TIMEOUT"
	envBSPMaxQueueSize       = "OTEL_BSP_MAX_QUEUE_SIZE"
	envBSPMaxExportBatchSize = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
)

// batchOptionsFromEnv turns the OTEL_BSP_* variables present in env into
// explicit batch span processor options. The SDK reads them too, but only
// from the process environment and it ignores malformed values; passing them
// explicitly makes WithEnv authoritative and lets us report the mistake.
func batchOptionsFromEnv(env envSource) ([]sdktrace.BatchSpanProcessorOption, error) {
	var (
		opts []sdktrace.BatchSpanProcessorOption
		errs []error
	)
	if v := env.get(envBSPScheduleDelay); v != "" {
		d, err := parseMillis(envBSPScheduleDelay, v)
		errs = append(errs, err)
		opts = append(opts, sdktrace.WithBatchTimeout(d))
	}
	if v := env.get(envBSPExportTimeout); v != "" {
		d, err := parseMillis(envBSPExportTimeout, v)
		errs = append(errs, err)
		opts = append(opts, sdktrace.WithExportTimeout(d))
	}
	queue := sdktrace.DefaultMaxQueueSize
	if v := env.get(envBSPMaxQueueSize); v != "" {
		n, err := parsePositiveInt(envBSPMaxQueueSize, v)
		errs = append(errs, err)
		queue = n
		opts = append(opts, sdktrace.WithMaxQueueSize(n))
	}
	if v := env.get(envBSPMaxExportBatchSize); v != "" {
		n, err := parsePositiveInt(envBSPMaxExportBatchSize, v)
		errs = append(errs, err)
		// The spec requires batch <= queue; the SDK would clamp silently.
		if err == nil && queue > 0 && n > queue {
			errs = append(errs, &ConfigError{
				Var: envBSPMaxExportBatchSize, Value: v,
				Reason: "must not exceed the queue size " + strconv.Itoa(queue) + " (" + envBSPMaxQueueSize + ")",
			})
		}
		opts = append(opts, sdktrace.WithMaxExportBatchSize(n))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return opts, nil
}
