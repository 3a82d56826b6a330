package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/cmd/ratatoskr/internal/loadgen"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

var secret = []byte("loadgen-test-secret-of-at-least-32-bytes")

// newServer serves a ratatoskrhttp.Handler with an echo service over
// httptest, and returns its ws:// URL.
func newServer(t *testing.T, opts ratatoskrhttp.Options) string {
	t.Helper()
	a, err := auth.NewJWT(auth.WithHMACSecret(secret))
	if err != nil {
		t.Fatal(err)
	}
	opts.Authenticator = a
	h := ratatoskrhttp.New(&opts)
	h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: r.Payload}, nil
	})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func TestRunCount(t *testing.T) {
	t.Parallel()
	url := newServer(t, ratatoskrhttp.Options{RequestRate: rate.Inf})
	var progress int
	rep, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: url, Device: loadgen.HS256Devices(secret, time.Hour), Conns: 4, InFlight: 8, Size: 64, Requests: 2000,
		ServerPID: os.Getpid(), // the server runs in this process
		Progress:  func(loadgen.Progress) { progress++ }, ProgressInterval: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 2000 || rep.OK != 2000 || len(rep.Errors) != 0 || rep.RateLimited != 0 {
		t.Fatalf("requests %d ok %d errors %v, want 2000 ok", rep.Requests, rep.OK, rep.Errors)
	}
	l := rep.Latency
	if l.Count != 2000 || !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Fatalf("latency %+v: not ordered", l)
	}
	if rep.Throughput <= 0 || rep.Signing.Goroutines != 4 || rep.Signing.Signed < 2000 || rep.Signing.RatePerSecond <= 0 {
		t.Fatalf("throughput %v signing %+v", rep.Throughput, rep.Signing)
	}
	if rep.Server == nil || rep.Server.PID != os.Getpid() {
		t.Fatalf("server %+v", rep.Server)
	}
	if progress == 0 {
		t.Error("no progress reported")
	}

	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	lat, _ := back["latency_us"].(map[string]any)
	if back["requests"] != 2000.0 || lat["p99_9"] == nil || back["server"] == nil {
		t.Fatalf("JSON report %s", buf.Bytes())
	}
	buf.Reset()
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2000 answered", "p99.9", "signed ahead by 4 goroutines", "CPU per request"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestRunDuration(t *testing.T) {
	t.Parallel()
	url := newServer(t, ratatoskrhttp.Options{RequestRate: rate.Inf})
	start := time.Now()
	rep, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: url, Device: loadgen.HS256Devices(secret, time.Hour), Conns: 2, InFlight: 4, Duration: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK == 0 || rep.ElapsedSeconds < 0.3 || time.Since(start) > 5*time.Second {
		t.Fatalf("ok %d in %.2fs", rep.OK, rep.ElapsedSeconds)
	}
}

func TestRunRateLimited(t *testing.T) {
	t.Parallel()
	url := newServer(t, ratatoskrhttp.Options{RequestRate: 20, RequestBurst: 5, MaxProtocolErrors: 1000})
	rep, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: url, Device: loadgen.HS256Devices(secret, time.Hour), Conns: 2, InFlight: 4, Requests: 200,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 200 || rep.RateLimited == 0 || rep.Errors["RATE_LIMITED"] != rep.RateLimited || rep.OK+rep.RateLimited != 200 {
		t.Fatalf("requests %d ok %d rate limited %d errors %v", rep.Requests, rep.OK, rep.RateLimited, rep.Errors)
	}
}

// A flood of RATE_LIMITED refusals makes the server close the connection:
// the report is kept and the error says the connection was lost.
func TestRunRateLimitedClosed(t *testing.T) {
	t.Parallel()
	url := newServer(t, ratatoskrhttp.Options{RequestRate: 20, RequestBurst: 5})
	rep, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: url, Device: loadgen.HS256Devices(secret, time.Hour), Conns: 1, InFlight: 4, Requests: 200,
	})
	if !errors.Is(err, loadgen.ErrConnection) || rep == nil || rep.RateLimited == 0 {
		t.Fatalf("Run = %+v, %v; want a report with RATE_LIMITED and ErrConnection", rep, err)
	}
}

func TestRunServerDown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nil)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	srv.Close()
	rep, err := loadgen.Run(context.Background(), loadgen.Config{URL: url, Device: loadgen.HS256Devices(secret, time.Hour), Conns: 2, Requests: 10})
	if !errors.Is(err, loadgen.ErrConnection) || rep != nil {
		t.Fatalf("Run = %v, %v; want ErrConnection", rep, err)
	}
}

func TestRunWrongSecret(t *testing.T) {
	t.Parallel()
	url := newServer(t, ratatoskrhttp.Options{})
	_, err := loadgen.Run(context.Background(), loadgen.Config{
		URL: url, Device: loadgen.HS256Devices([]byte("another-secret-of-at-least-32-bytes!!"), time.Hour), Conns: 1, Requests: 10,
	})
	if !errors.Is(err, loadgen.ErrConnection) {
		t.Fatalf("Run: %v, want ErrConnection", err)
	}
}
