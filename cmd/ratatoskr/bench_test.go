package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

const benchTestSecret = "bench-test-secret-of-at-least-32-bytes"

// benchServer serves an echo service with no device rate limit and returns
// its ws:// URL.
func benchServer(t *testing.T) string {
	t.Helper()
	a, err := auth.NewJWT(auth.WithHMACSecret([]byte(benchTestSecret)))
	if err != nil {
		t.Fatal(err)
	}
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: a, RequestRate: rate.Inf})
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

func TestBench(t *testing.T) {
	t.Setenv("RATATOSKR_JWT_SECRET", benchTestSecret)
	url := benchServer(t)
	down := httptest.NewServer(nil)
	downURL := "ws" + strings.TrimPrefix(down.URL, "http")
	down.Close()

	tests := []struct {
		name string
		args []string
		code int
		out  string // in stdout
		err  string // in stderr
	}{
		{"help", []string{"-h"}, 0, "", "signed ahead"},
		{"no url", []string{"-keygen"}, 2, "", "-url is required"},
		{"no device", []string{"-url", url}, 2, "", "-keygen and -key"},
		{"bad flag", []string{"-url", url, "-keygen", "-c", "x"}, 2, "", "invalid value"},
		{"server down", []string{"-url", downURL, "-keygen", "-n", "10"}, 3, "", "connection failed"},
		{"text", []string{"-url", url, "-keygen", "-c", "2", "-n", "200"}, 0, "200 answered, 200 ok", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(append([]string{"bench"}, tc.args...), nil, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.err) {
				t.Fatalf("stdout:\n%s\nstderr:\n%s\nwant %q and %q", stdout.String(), stderr.String(), tc.out, tc.err)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"bench", "-url", url, "-keygen", "-c", "4", "-n", "500", "--json"}, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
		}
		var rep struct {
			Requests, OK int64
			Latency      struct {
				P50, P90, P99 float64
				P999          float64 `json:"p99_9"`
			} `json:"latency_us"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("%v:\n%s", err, stdout.String())
		}
		l := rep.Latency
		if rep.Requests != 500 || rep.OK != 500 || !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999) {
			t.Fatalf("report %+v", rep)
		}
		if stderr.Len() != 0 { // not a terminal: no progress line
			t.Fatalf("stderr: %q", stderr.String())
		}
	})
}
