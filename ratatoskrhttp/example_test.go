package ratatoskrhttp_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// Mount Ratatoskr in a chi router next to REST routes, and call it from a
// device.
func ExampleNew() {
	secret := []byte("example-secret-of-at-least-32-bytes")
	a, _ := auth.NewJWT(auth.WithHMACSecret(secret))
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: a})
	h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: r.Payload}, nil
	})

	router := chi.NewRouter()
	router.Get("/healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	router.Mount("/ratatoskr", h)
	srv := httptest.NewServer(router)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	// The device: its key, and a token binding that key to it.
	pub, key, _ := ed25519.GenerateKey(nil)
	token, _ := auth.MintHS256(secret, auth.MintOptions{UserID: "alice", DeviceID: "phone-1", DevicePublicKey: pub})
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ratatoskr"
	c, err := client.Dial(context.Background(), url, &client.Options{UserID: "alice", DeviceID: "phone-1", PrivateKey: key, Token: token})
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := c.Call(context.Background(), "echo", []byte("hello"))
	fmt.Println(string(resp.Payload), err)
	fmt.Println(c.Close())
	// Output:
	// hello <nil>
	// <nil>
}

// Register services with middleware, chi-style: Use for every service,
// With and Group for some.
func ExampleRouter_Use() {
	r := ratatoskrhttp.NewRouter()
	r.Use(ratatoskrhttp.Recoverer(func(ctx context.Context, req *ratatoskrhttp.Request, v any, stack []byte) {
		fmt.Println("recovered:", v)
	}))
	requireMetadata := func(key string) ratatoskrhttp.Middleware {
		return func(next ratatoskrhttp.Service) ratatoskrhttp.Service {
			return ratatoskrhttp.ServiceFunc(func(ctx context.Context, req *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
				if req.Metadata[key] == "" {
					return nil, envelope.NewError(envelope.CodeSchemaInvalid, key+" metadata required")
				}
				return next.Serve(ctx, req)
			})
		}
	}
	r.Group(func(g *ratatoskrhttp.Router) {
		g.Use(requireMetadata("idempotency-key"))
		g.HandleFunc("heidrun", func(ctx context.Context, req *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			return nil, envelope.NewError("PAYMENT_DECLINED", "card declined")
		})
	})
	r.HandleFunc("crash", func(ctx context.Context, req *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		panic("bug")
	})

	for _, req := range []*ratatoskrhttp.Request{
		{Service: "heidrun"},
		{Service: "heidrun", Metadata: map[string]string{"idempotency-key": "k1"}},
		{Service: "crash"},
		{Service: "nornen"},
	} {
		_, err := r.Serve(context.Background(), req)
		fmt.Println(envelope.CodeOf(err))
	}
	// Output:
	// SCHEMA_INVALID
	// PAYMENT_DECLINED
	// recovered: bug
	// INTERNAL
	// UNKNOWN_SERVICE
}

// Serve until SIGINT or SIGTERM, then shut down: the listener closes, REST
// requests finish, and every session answers its in-flight requests and
// gets a DISCONNECT with SERVER_SHUTDOWN before the program goes on.
func ExampleShutdownServer() {
	a, _ := auth.NewJWT(auth.WithHMACSecret([]byte("example-secret-of-at-least-32-bytes")))
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: a, Logger: slog.Default()})
	router := http.NewServeMux()
	router.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	router.Handle("/ratatoskr", h)
	srv := &http.Server{Addr: "127.0.0.1:0", Handler: router, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }() // returns once ShutdownServer has begun

	stop() // stands in for the signal in this example
	select {
	case <-ctx.Done(): // SIGINT or SIGTERM
	case err := <-served: // the listener failed: shut down all the same
		served <- err
	}
	// The timeout starts now, not when the program started.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fmt.Println(ratatoskrhttp.ShutdownServer(shutdownCtx, srv, h)) // waits for the sessions
	fmt.Println(<-served)
	// Output:
	// <nil>
	// http: Server closed
}
