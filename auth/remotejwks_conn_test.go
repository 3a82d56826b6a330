package auth_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// issuer publishes its signing keys as a JWKS, as an identity provider does.
type issuer struct {
	srv  *httptest.Server
	hits atomic.Int64
	mu   sync.Mutex
	keys map[string]ed25519.PrivateKey // published, by kid
}

func newIssuer(t *testing.T) *issuer {
	is := &issuer{keys: map[string]ed25519.PrivateKey{}}
	is.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.hits.Add(1)
		is.mu.Lock()
		defer is.mu.Unlock()
		set := []map[string]any{}
		for kid, k := range is.keys {
			jwk := auth.ConfirmationJWK(k.Public().(ed25519.PublicKey))
			jwk["kid"], jwk["use"] = kid, "sig"
			set = append(set, jwk)
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": set})
	}))
	t.Cleanup(is.srv.Close)
	return is
}

// publish generates a signing key and publishes it under kid.
func (is *issuer) publish(t *testing.T, kid string) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys[kid] = k
	return k
}

// dial connects a new device with a token that key signs under kid.
func dial(t *testing.T, url string, key ed25519.PrivateKey, kid, deviceID string) (*client.Client, error) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	token, err := auth.Mint(key, auth.MintOptions{
		UserID: "alice", DeviceID: deviceID, DevicePublicKey: pub, KeyID: kid, Issuer: "https://id.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, &client.Options{UserID: "alice", DeviceID: deviceID, PrivateKey: priv, Token: token})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func echo(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Call(ctx, "echo", []byte("hello"))
	if err != nil || string(resp.Payload) != "hello" {
		t.Fatalf("echo = %v, %v", resp, err)
	}
}

// TestRemoteJWKSOverWebSocket connects devices through ratatoskrhttp to a
// server that trusts a rotating JWKS issuer: a token of the first key, then
// one of a key the issuer adds later, then refusals: AUTH_FAILED for a key
// the issuer never published, UNAVAILABLE once the issuer is down.
func TestRemoteJWKSOverWebSocket(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	keyA := is.publish(t, "2026-a")

	verifier, err := auth.NewJWT(
		auth.WithRemoteJWKS(is.srv.URL, &auth.RemoteJWKSOptions{RefreshUnknownKIDInterval: time.Millisecond}),
		auth.WithIssuer("https://id.example"),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { verifier.Close() })
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: verifier})
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
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	phone, err := dial(t, url, keyA, "2026-a", "phone")
	if err != nil {
		t.Fatalf("device with a token of key A: %v", err)
	}
	echo(t, phone)
	if n := is.hits.Load(); n != 1 {
		t.Errorf("%d JWKS fetches after the first device, want 1 (NewJWT's)", n)
	}

	// The issuer rotates: it publishes key B and signs new tokens with it.
	keyB := is.publish(t, "2026-b")
	laptop, err := dial(t, url, keyB, "2026-b", "laptop")
	if err != nil {
		t.Fatalf("device with a token of the new key B: %v", err)
	}
	echo(t, laptop)
	echo(t, phone) // the first session is untouched
	if n := is.hits.Load(); n != 2 {
		t.Errorf("%d JWKS fetches after the new key, want 2", n)
	}

	_, forged, _ := ed25519.GenerateKey(nil)
	_, err = dial(t, url, forged, "2026-c", "tablet")
	if code := envelope.CodeOf(err); code != envelope.CodeAuthFailed {
		t.Errorf("token of an unpublished key: code %q (%v), want AUTH_FAILED", code, err)
	}

	is.srv.Close() // the issuer goes down
	_, err = dial(t, url, forged, "2026-d", "watch")
	if code := envelope.CodeOf(err); code != envelope.CodeUnavailable {
		t.Errorf("issuer down: code %q (%v), want UNAVAILABLE", code, err)
	}
	// Keys already fetched still verify.
	tv, err := dial(t, url, keyB, "2026-b", "tv")
	if err != nil {
		t.Fatalf("issuer down, cached key: %v", err)
	}
	echo(t, tv)
}
