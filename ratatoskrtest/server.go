package ratatoskrtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// shutdownTimeout bounds the handler's shutdown at cleanup.
const shutdownTimeout = 5 * time.Second

// Server is a ratatoskrhttp.Handler served by an httptest server. Its
// methods are safe for concurrent use.
type Server struct {
	// Handler is the running handler; register services on it (before the
	// devices that call them connect) or end sessions with it.
	Handler *ratatoskrhttp.Handler
	// URL is the WebSocket URL of the handler: "ws://127.0.0.1:port".
	URL string

	secret []byte // signs tokens; checked by the default authenticator
}

// NewServer starts an httptest server with a ratatoskrhttp.Handler
// configured by opts (nil means defaults; opts is not modified) and the
// services register adds (register may be nil). At t's cleanup the handler
// is shut down (its sessions end with DISCONNECT/SERVER_SHUTDOWN), then the
// server is closed.
//
// Unless opts.Authenticator is set, devices authenticate with HS256 tokens
// signed with a random secret of this server (see Token). Every device of
// a test connects from 127.0.0.1, so the per-address limits
// (MaxPendingPerAddr, HandshakeRatePerAddr) are turned off unless opts
// sets them; every other option is used as given.
func NewServer(t testing.TB, opts *ratatoskrhttp.Options, register func(h *ratatoskrhttp.Handler)) *Server {
	t.Helper()
	var o ratatoskrhttp.Options
	if opts != nil {
		o = *opts
	}
	secret := make([]byte, 32)
	rand.Read(secret) // never fails
	if o.Authenticator == nil {
		a, err := auth.NewJWT(auth.WithHMACSecret(secret))
		if err != nil {
			t.Fatalf("ratatoskrtest: authenticator: %v", err)
		}
		o.Authenticator = a
	}
	if o.MaxPendingPerAddr == 0 {
		o.MaxPendingPerAddr = -1
	}
	if o.HandshakeRatePerAddr == 0 {
		o.HandshakeRatePerAddr = -1
	}
	h := ratatoskrhttp.New(&o)
	if register != nil {
		register(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	return &Server{Handler: h, URL: "ws" + strings.TrimPrefix(srv.URL, "http"), secret: secret}
}

// Token returns an HS256 device token for user and device, binding pub
// ("cnf"), signed with the server's secret and valid for ttl (zero:
// auth.DefaultTTL). A negative ttl gives a token that expired -ttl ago,
// for negative tests. When NewServer was given an Authenticator, that
// authenticator decides whether it accepts these tokens.
//
// Token panics on arguments auth.MintHS256 refuses (an empty user or
// device, a malformed key): a mistake in the test's setup.
func (s *Server) Token(user, device string, pub ed25519.PublicKey, ttl time.Duration) string {
	now := time.Now()
	if ttl < 0 { // issued 2|ttl| ago, valid for |ttl|
		now = now.Add(2 * ttl)
		ttl = -ttl
	}
	tok, err := auth.MintHS256(s.secret, auth.MintOptions{UserID: user, DeviceID: device, DevicePublicKey: pub, TTL: ttl,
		Now: func() time.Time { return now }})
	if err != nil {
		panic("ratatoskrtest: " + err.Error())
	}
	return tok
}

// Connect starts a server with the services register adds (see NewServer)
// and returns a connected client of a fresh device (user "user", device
// "device"), closed at t's cleanup. For options, several devices or raw
// frames, use NewServer and Server.Device.
func Connect(t testing.TB, register func(h *ratatoskrhttp.Handler)) *client.Client {
	t.Helper()
	return NewServer(t, nil, register).Device("user", "device").Dial(t)
}
