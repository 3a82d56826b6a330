package tracing_test

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
	"github.com/ratatoskr-proto/ratatoskr/tracing"
)

// BenchmarkObserverRequest measures what tracing adds to one business
// request: StartRequest and Request, with the SDK sampling every span into
// an exporter that drops them, and with a no-op provider (tracing wired
// but turned off); each with and without a device's traceparent.
func BenchmarkObserverRequest(b *testing.B) {
	providers := []struct {
		name string
		tp   func() trace.TracerProvider
	}{
		{"sdk", func() trace.TracerProvider {
			return sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
		}},
		{"noop", func() trace.TracerProvider { return noop.NewTracerProvider() }},
	}
	for _, p := range providers {
		for _, withParent := range []bool{false, true} {
			name := p.name
			md := map[string]string{"service": "orders.create"}
			if withParent {
				name += "/traceparent"
				md["traceparent"] = traceparnt
			}
			b.Run(name, func(b *testing.B) {
				tp := p.tp()
				if s, ok := tp.(*sdktrace.TracerProvider); ok {
					defer s.Shutdown(context.Background())
				}
				o := tracing.New(&tracing.Options{TracerProvider: tp})
				info := ratatoskrhttp.RequestInfo{
					Type: pb.MessageType_BUSINESS_REQUEST, Service: "orders.create",
					RequestID: "0b0f6a8e-9a51-4d7e-8a8b-4f0a5a2f7c11", UserID: "alice", DeviceID: "phone-1",
					SessionID: "c2Vzc2lvbi1pZC1vZi0yMi1i", RemoteAddr: "198.51.100.7:52113",
					Metadata: md, Size: 412, Start: time.Now(),
				}
				ev := &ratatoskrhttp.RequestEvent{RequestInfo: info, Latency: time.Millisecond, ResponseSize: 128}
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					o.Request(o.StartRequest(ctx, &info), ev)
				}
			})
		}
	}
}
