package yggdrasil_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/devsecret"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/yggdrasil"
)

// testServer is the example server on httptest.
type testServer struct {
	s   *yggdrasil.Server
	srv *httptest.Server
	url string // the Ratatoskr endpoint, ws://…/ratatoskr
}

// newTestServer builds the server from cfg and serves it on httptest until
// the test ends. Its logs go to the test's output.
func newTestServer(t *testing.T, cfg yggdrasil.Config) *testServer {
	t.Helper()
	s, err := yggdrasil.New(t.Context(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() {
		// Sessions first: httptest does not wait for hijacked connections.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Ratatoskr().Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &testServer{s: s, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ratatoskr"}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// dial connects a fresh device of user with a token minted from the dev
// secret, and closes it when the test ends.
func dial(t *testing.T, url, user, device string) *client.Client {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	token := mintDev(t, user, device, pub)
	return dialWith(t, url, &client.Options{UserID: user, DeviceID: device, PrivateKey: key, Token: token})
}

// mintDev mints a device token for pub with the dev secret.
func mintDev(t *testing.T, user, device string, pub ed25519.PublicKey) string {
	t.Helper()
	token, err := auth.MintHS256([]byte(devsecret.Secret), auth.MintOptions{UserID: user, DeviceID: device, DevicePublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func dialWith(t *testing.T, url string, o *client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// callJSON calls service with req as JSON. On success it decodes the
// answer into resp (when non-nil); it returns the server's error code,
// "" on success.
func callJSON(t *testing.T, c *client.Client, service string, req, resp any) envelope.Code {
	t.Helper()
	b, ok := req.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(req); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	r, err := c.Call(ctx, service, b)
	if err != nil {
		var e *envelope.Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: %v is not an *envelope.Error", service, err)
		}
		return e.Code()
	}
	if resp != nil {
		if err := json.Unmarshal(r.Payload, resp); err != nil {
			t.Fatalf("%s answered %q: %v", service, r.Payload, err)
		}
	}
	return ""
}
