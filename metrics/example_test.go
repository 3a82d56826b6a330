package metrics_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/metrics"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// Count a handler's events in a registry of your own and serve it at
// /metrics next to the handler.
func ExampleNew() {
	reg := prometheus.NewRegistry()
	obs, err := metrics.New(reg, &metrics.Options{Services: []string{"echo"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	secret := []byte("example-secret-of-at-least-32-bytes")
	a, _ := auth.NewJWT(auth.WithHMACSecret(secret))
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: a, Observer: obs})
	h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: r.Payload}, nil
	})

	mux := http.NewServeMux()
	mux.Handle("/ratatoskr", h)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	// A device calls echo.
	pub, key, _ := ed25519.GenerateKey(nil)
	token, _ := auth.MintHS256(secret, auth.MintOptions{UserID: "alice", DeviceID: "phone-1", DevicePublicKey: pub})
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ratatoskr"
	c, err := client.Dial(context.Background(), url, &client.Options{UserID: "alice", DeviceID: "phone-1", PrivateKey: key, Token: token})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	if _, err := c.Call(context.Background(), "echo", []byte("hello")); err != nil {
		fmt.Println(err)
		return
	}

	// What Prometheus scrapes.
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ratatoskr_connections ") || strings.HasPrefix(line, "ratatoskr_handshakes_total") ||
			strings.HasPrefix(line, "ratatoskr_requests_total") || strings.HasPrefix(line, "ratatoskr_request_duration_seconds_count") {
			fmt.Println(line)
		}
	}
	// Output:
	// ratatoskr_connections 1
	// ratatoskr_handshakes_total{code="OK",kind="handshake"} 1
	// ratatoskr_request_duration_seconds_count{service="echo",type="business"} 1
	// ratatoskr_requests_total{code="OK",service="echo",type="business"} 1
}
