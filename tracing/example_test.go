package tracing_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http/httptest"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
	"github.com/ratatoskr-proto/ratatoskr/tracing"
)

// Trace a handler's requests, and let a device join its request to a trace
// of its own through the "traceparent" metadata.
func ExampleNew() {
	// In production: the SDK with a batch span processor and an OTLP
	// exporter, set once with otel.SetTracerProvider, and tracing.New(nil).
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())

	secret := []byte("example-secret-of-at-least-32-bytes")
	a, _ := auth.NewJWT(auth.WithHMACSecret(secret))
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{
		Authenticator: a,
		Observer:      tracing.New(&tracing.Options{TracerProvider: tp}),
	})
	h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		// The request's span: start children of it for the work done here.
		_, span := tp.Tracer("example").Start(ctx, "echo work")
		defer span.End()
		return &ratatoskrhttp.Response{Payload: r.Payload}, nil
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	pub, key, _ := ed25519.GenerateKey(nil)
	token, _ := auth.MintHS256(secret, auth.MintOptions{UserID: "alice", DeviceID: "phone-1", DevicePublicKey: pub})
	c, err := client.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"),
		&client.Options{UserID: "alice", DeviceID: "phone-1", PrivateKey: key, Token: token})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = c.Call(context.Background(), "echo", []byte("hello"), client.WithMetadata(map[string]string{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	}))
	fmt.Println(err)
	c.Close()
	h.Shutdown(context.Background()) // waits for the connection: every span has ended

	for _, s := range exp.GetSpans() {
		parent := "root"
		if s.Parent.IsRemote() {
			parent = "device's " + s.Parent.SpanID().String()
		} else if s.Parent.IsValid() {
			parent = "local"
		}
		fmt.Printf("%s (%s), child of %s\n", s.Name, kind(s.SpanKind), parent)
	}
	// Output:
	// <nil>
	// ratatoskr handshake (server), child of root
	// echo work (internal), child of local
	// ratatoskr echo (server), child of device's 00f067aa0ba902b7
}

func kind(k trace.SpanKind) string { return k.String() }
