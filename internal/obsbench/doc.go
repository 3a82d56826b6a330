// Package obsbench measures what observability costs a round trip: the
// same signed echo calls with the audit log, Prometheus metrics and
// OpenTelemetry tracing all on, and with all off, side by side in one run:
//
//	go test -run '^$' -bench . ./internal/obsbench
//
// It holds no code but its benchmark.
package obsbench
