package metrics_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/metrics"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// BenchmarkObserverRequest measures the Observer's cost per answered
// request, the event every request pays: one counter, one histogram and
// the two byte counters. It allocates nothing.
func BenchmarkObserverRequest(b *testing.B) {
	obs, err := metrics.New(prometheus.NewRegistry(), &metrics.Options{Services: []string{"echo", "nornen", "heidrun"}})
	if err != nil {
		b.Fatal(err)
	}
	event := func(service string, code envelope.Code) *ratatoskrhttp.RequestEvent {
		return &ratatoskrhttp.RequestEvent{
			RequestInfo:  ratatoskrhttp.RequestInfo{Type: pb.MessageType_BUSINESS_REQUEST, Service: service, Size: 230},
			Code:         code,
			Latency:      3 * time.Millisecond,
			ResponseSize: 120,
		}
	}
	for _, c := range []struct {
		name string
		e    *ratatoskrhttp.RequestEvent
	}{
		{"known_service", event("heidrun", "")},
		{"unknown_service", event("no-such-service", envelope.CodeUnknownService)},
		{"application_code", event("heidrun", "PAYMENT_DECLINED")},
		{"heartbeat", &ratatoskrhttp.RequestEvent{RequestInfo: ratatoskrhttp.RequestInfo{Type: pb.MessageType_HEARTBEAT, Size: 90}, Latency: time.Millisecond}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				obs.Request(ctx, c.e)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		e := event("echo", "")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				obs.Request(ctx, e)
			}
		})
	})
}
