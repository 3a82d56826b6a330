package obsbench_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/metrics"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
	"github.com/ratatoskr-proto/ratatoskr/tracing"
)

var secret = []byte("obsbench-secret-of-at-least-32-bytes!")

// What a run turns on.
type setup struct {
	name            string
	audit, counters bool
	sampled         float64 // share of requests traced; < 0: no tracer at all
}

var setups = []setup{
	{name: "off", sampled: -1},
	{name: "audit", audit: true, sampled: -1},
	{name: "metrics", counters: true, sampled: -1},
	{name: "tracing-all", sampled: 1},
	{name: "tracing-1pct", sampled: 0.01},
	{name: "all", audit: true, counters: true, sampled: 1},
	{name: "all-1pct", audit: true, counters: true, sampled: 0.01},
}

// server starts a handler with an echo service and what s turns on (see
// observers).
func server(b *testing.B, s setup) string {
	authn, err := auth.NewJWT(auth.WithHMACSecret(secret))
	if err != nil {
		b.Fatal(err)
	}
	o := &ratatoskrhttp.Options{Authenticator: authn, RequestRate: 1e7, // the rate is checked, never reached
		Observer: observers(b, s)}
	h := ratatoskrhttp.New(o)
	h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: r.Payload}, nil
	})
	srv := httptest.NewServer(h)
	b.Cleanup(func() { h.Close(); srv.Close() })
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dial(b *testing.B, url, user string) *client.Client {
	pub, key, _ := ed25519.GenerateKey(nil)
	tok, err := auth.MintHS256(secret, auth.MintOptions{UserID: user, DeviceID: "bench", DevicePublicKey: pub})
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.Dial(context.Background(), url, &client.Options{UserID: user, DeviceID: "bench", PrivateKey: key, Token: tok})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

var payload = bytes.Repeat([]byte("x"), 256)

// processCPU is the process's user and system CPU time so far, in ns: a
// measure of the work a round trip costs that the scheduling noise of a
// shared machine barely moves, unlike ns/op.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkObservability: 16 connections, one signed 256-byte echo call
// in flight on each (client and server in this process), with nothing on
// (off), each of the audit log, metrics and tracing alone, and all of
// them; the ratio of each to off (cpu-ns/op: the whole process's CPU per
// round trip, client signing included) is what it costs a round trip.
func BenchmarkObservability(b *testing.B) {
	for _, s := range setups {
		b.Run(s.name, func(b *testing.B) {
			url := server(b, s)
			conns := make([]*client.Client, 16)
			for i := range conns {
				conns[i] = dial(b, url, "user-"+string(rune('a'+i)))
			}
			var next atomic.Int32
			b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			runtime.GC()
			cpu := processCPU(b)
			b.ResetTimer()
			defer func() {
				b.StopTimer()
				b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
			}()
			b.RunParallel(func(pb *testing.PB) {
				c := conns[int(next.Add(1)-1)%len(conns)]
				for pb.Next() {
					if _, err := c.Call(context.Background(), "echo", payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkObserverWork is the server-side work the audit log, metrics and
// tracing add to one business request, measured alone: the observer calls
// a served request makes (StartRequest, the replay check, Request) on a
// realistic 256-byte request, with the same setups as above.
// BenchmarkObserverWork/baseline is what the server cannot avoid for that
// request in the same run: decoding and validating it (signature and
// replay record included), so that each setup reads as a ratio.
func BenchmarkObserverWork(b *testing.B) {
	signer := &envelope.Signer{DeviceID: "phone-1", UserID: "alice", Scheme: envelope.SchemeV2}
	pub, key, _ := ed25519.GenerateKey(nil)
	signer.Key = key
	b.Run("baseline", func(b *testing.B) {
		dk, err := envelope.NewDeviceKey(pub)
		if err != nil {
			b.Fatal(err)
		}
		const n = 4096
		frames := make([][]byte, n)
		for i := range frames {
			req, _ := signer.Business("echo", payload, nil)
			frames[i], _ = envelope.Marshal(req)
		}
		want := envelope.Expect{UserID: "alice", DeviceID: "phone-1", Key: dk, Scheme: envelope.SchemeV2}
		v := envelope.NewValidator(nil)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i == n {
				b.StopTimer()
				v, i = envelope.NewValidator(nil), 0
				b.StartTimer()
			}
			req, err := v.Decode(frames[i])
			if err == nil {
				err = v.Validate(context.Background(), req, want)
			}
			if err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	req, _ := signer.Business("echo", payload, nil)
	for _, s := range setups[1:] {
		b.Run(s.name, func(b *testing.B) {
			obs := observers(b, s)
			info := ratatoskrhttp.RequestInfo{Type: req.GetMessageType(), Service: "echo", RequestID: req.GetRequestId(),
				UserID: "alice", DeviceID: "phone-1", SessionID: "session-1", RemoteAddr: "192.0.2.1:41234",
				Metadata: req.GetMetadata(), Size: 400, Start: time.Now()}
			b.ReportAllocs()
			for b.Loop() {
				ctx := obs.StartRequest(context.Background(), &info)
				obs.ReplayChecked(ratatoskrhttp.ReplayEvent{Outcome: ratatoskrhttp.ReplayRecorded, Latency: time.Microsecond})
				obs.Request(ctx, &ratatoskrhttp.RequestEvent{RequestInfo: info, Latency: 40 * time.Microsecond, Payload: payload, ResponseSize: len(payload)})
			}
		})
	}
}

// observers builds the Observer a setup turns on: the audit log (JSON,
// discarded; what Options.Logger sets up), metrics, and tracing (the SDK,
// spans batched to an exporter that drops them, s.sampled of them
// sampled).
func observers(b *testing.B, s setup) ratatoskrhttp.Observer {
	var obs []ratatoskrhttp.Observer
	if s.audit {
		obs = append(obs, ratatoskrhttp.AuditLog(slog.New(slog.NewJSONHandler(io.Discard, nil))))
	}
	if s.counters {
		m, err := metrics.New(prometheus.NewRegistry(), &metrics.Options{Services: []string{"echo"}})
		if err != nil {
			b.Fatal(err)
		}
		obs = append(obs, m)
	}
	if s.sampled >= 0 {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()),
			sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(s.sampled))))
		b.Cleanup(func() { tp.Shutdown(context.Background()) })
		obs = append(obs, tracing.New(&tracing.Options{TracerProvider: tp}))
	}
	return ratatoskrhttp.Observers(obs...)
}
