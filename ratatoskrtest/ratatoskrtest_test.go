package ratatoskrtest_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrtest"
)

// whoami answers with the caller's user and device.
func whoami(h *ratatoskrhttp.Handler) {
	h.HandleFunc("whoami", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: []byte(r.UserID + "/" + r.DeviceID)}, nil
	})
	h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: r.Payload}, nil
	})
}

func call(t *testing.T, c *client.Client, service, payload string) string {
	t.Helper()
	resp, err := c.Call(t.Context(), service, []byte(payload))
	if err != nil {
		t.Fatalf("Call %s: %v", service, err)
	}
	return string(resp.Payload)
}

func TestConnect(t *testing.T) {
	t.Parallel()
	c := ratatoskrtest.Connect(t, whoami)
	if got := call(t, c, "echo", "hi"); got != "hi" {
		t.Errorf("echo = %q, want hi", got)
	}
	if got := call(t, c, "whoami", ""); got != "user/device" {
		t.Errorf("whoami = %q, want user/device", got)
	}
}

func TestDevices(t *testing.T) {
	t.Parallel()
	s := ratatoskrtest.NewServer(t, nil, whoami)
	alice := s.Device("alice", "phone").Dial(t)
	bob := s.Device("bob", "laptop").Dial(t, func(o *client.Options) { o.HeartbeatInterval = time.Second })
	if got := call(t, alice, "whoami", ""); got != "alice/phone" {
		t.Errorf("alice: whoami = %q", got)
	}
	if got := call(t, bob, "whoami", ""); got != "bob/laptop" {
		t.Errorf("bob: whoami = %q", got)
	}
	if alice.Session().ID == bob.Session().ID {
		t.Error("two devices share a session id")
	}
}

func TestNewServerOptions(t *testing.T) {
	t.Parallel()
	t.Run("NotModified", func(t *testing.T) {
		t.Parallel()
		opts := &ratatoskrhttp.Options{MaxConnections: 10}
		s := ratatoskrtest.NewServer(t, opts, whoami)
		if opts.Authenticator != nil || opts.MaxPendingPerAddr != 0 || opts.HandshakeRatePerAddr != 0 || opts.MaxConnections != 10 {
			t.Errorf("options modified: %+v", opts)
		}
		call(t, s.Device("u", "d").Dial(t), "echo", "x")
	})
	t.Run("PerAddrLimitsOff", func(t *testing.T) {
		t.Parallel()
		s := ratatoskrtest.NewServer(t, nil, whoami)
		d := s.Device("u", "d")
		for range 80 { // past the default of 64 pending handshakes per address
			d.Raw(t)
		}
		d.Raw(t).Handshake()
	})
	t.Run("PerAddrLimitsAsGiven", func(t *testing.T) {
		t.Parallel()
		s := ratatoskrtest.NewServer(t, &ratatoskrhttp.Options{MaxPendingPerAddr: 1}, whoami)
		d := s.Device("u", "d")
		d.Raw(t)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		ws, resp, err := websocket.Dial(ctx, s.URL, &websocket.DialOptions{Subprotocols: []string{ratatoskrhttp.Subprotocol}})
		if err == nil {
			ws.CloseNow()
			t.Fatal("second pending connection accepted with MaxPendingPerAddr 1")
		}
		if resp == nil || resp.StatusCode != 429 {
			t.Fatalf("second pending connection: %v, want HTTP 429", err)
		}
	})
	t.Run("Authenticator", func(t *testing.T) {
		t.Parallel()
		other := make([]byte, 32)
		rand.Read(other)
		a, err := auth.NewJWT(auth.WithHMACSecret(other))
		if err != nil {
			t.Fatal(err)
		}
		s := ratatoskrtest.NewServer(t, &ratatoskrhttp.Options{Authenticator: a}, whoami)
		d := s.Device("u", "d")
		d.Token, err = auth.MintHS256(other, auth.MintOptions{UserID: "u", DeviceID: "d", DevicePublicKey: d.Public})
		if err != nil {
			t.Fatal(err)
		}
		call(t, d.Dial(t), "echo", "x")

		// A token of the kit's own secret is not accepted by a.
		raw := s.Device("u", "d2").Raw(t)
		cr, err := s.Device("u", "d3").Signer.ConnectionRequest(s.Token("u", "d3", nil, 0))
		if err != nil {
			t.Fatal(err)
		}
		if resp := raw.RoundTrip(cr); resp.Success {
			t.Error("a token of the kit's secret passed a custom authenticator")
		}
	})
}

func TestToken(t *testing.T) {
	t.Parallel()
	s := ratatoskrtest.NewServer(t, nil, whoami)
	d := s.Device("u", "d")
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		ok   bool
	}{
		{"Default", 0, true},
		{"Minute", time.Minute, true},
		{"Expired", -time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := d.Raw(t)
			req, err := d.Signer.ConnectionRequest(s.Token(d.UserID, d.DeviceID, d.Public, tc.ttl))
			if err != nil {
				t.Fatal(err)
			}
			resp := raw.RoundTrip(req)
			if resp.Success != tc.ok {
				t.Fatalf("handshake success = %v (%s), want %v", resp.Success, resp.ErrorCode, tc.ok)
			}
			if !tc.ok {
				if resp.ErrorCode != string(envelope.CodeAuthFailed) {
					t.Errorf("code %s, want AUTH_FAILED", resp.ErrorCode)
				}
				raw.ExpectClose(ratatoskrhttp.ClosePolicyViolation)
			}
		})
	}
}

func TestRawConn(t *testing.T) {
	t.Parallel()
	s := ratatoskrtest.NewServer(t, nil, whoami)

	t.Run("Handshake", func(t *testing.T) {
		t.Parallel()
		resp := s.Device("u", "d").Raw(t).Handshake()
		if !resp.Success || resp.MessageType != pb.MessageType_CONNECTION_RESPONSE {
			t.Fatalf("handshake: %v", resp)
		}
	})
	t.Run("Tampered", func(t *testing.T) {
		t.Parallel()
		raw := s.Device("u", "d").Raw(t)
		raw.Handshake()
		req := raw.Business("echo", []byte("a"))
		req.Payload = []byte("b")
		if resp := raw.RoundTrip(req); resp.Success || resp.ErrorCode != string(envelope.CodeSignatureInvalid) {
			t.Fatalf("tampered: %v, want SIGNATURE_INVALID", resp)
		}
	})
	t.Run("Resign", func(t *testing.T) {
		t.Parallel()
		for _, scheme := range []envelope.Scheme{envelope.SchemeV1, envelope.SchemeV2} {
			d := s.Device("u", "d-"+scheme.String())
			d.Signer.Scheme = scheme
			raw := d.Raw(t)
			raw.Handshake()
			req := raw.Business("echo", []byte("a"))
			req.Payload = []byte("b")
			if resp := raw.RoundTrip(raw.Resign(req)); !resp.Success || string(resp.Payload) != "b" {
				t.Fatalf("%v: resigned: %v", scheme, resp)
			}
		}
	})
	t.Run("Replay", func(t *testing.T) {
		t.Parallel()
		raw := s.Device("u", "d").Raw(t)
		raw.Handshake()
		req := raw.Business("echo", []byte("once"))
		if resp := raw.RoundTrip(req); !resp.Success {
			t.Fatalf("first: %v", resp)
		}
		if resp := raw.RoundTrip(req); resp.Success || resp.ErrorCode != string(envelope.CodeReplayDetected) {
			t.Fatalf("replay: %v, want REPLAY_DETECTED", resp)
		}
	})
	t.Run("SendBytes", func(t *testing.T) {
		t.Parallel()
		raw := s.Device("u", "d").Raw(t)
		raw.Handshake()
		raw.SendBytes([]byte{0xff, 0xff, 0xff})
		if resp := raw.Recv(); resp.Success || resp.ErrorCode != string(envelope.CodeMalformed) {
			t.Fatalf("garbage: %v, want MALFORMED", resp)
		}
	})
	t.Run("BeforeHandshake", func(t *testing.T) {
		t.Parallel()
		raw := s.Device("u", "d").Raw(t)
		raw.Send(raw.Business("echo", nil))
		raw.ExpectClose(ratatoskrhttp.ClosePolicyViolation)
	})
	t.Run("TextFrame", func(t *testing.T) {
		t.Parallel()
		raw := s.Device("u", "d").Raw(t)
		raw.Handshake()
		if err := raw.Conn.Write(t.Context(), websocket.MessageText, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		raw.ExpectClose(ratatoskrhttp.CloseUnsupportedData)
	})
}

// TestCleanupShutsDown checks that a server ends its sessions with
// DISCONNECT/SERVER_SHUTDOWN at its test's cleanup.
func TestCleanupShutsDown(t *testing.T) {
	t.Parallel()
	var c *client.Client
	t.Run("Server", func(st *testing.T) {
		s := ratatoskrtest.NewServer(st, nil, whoami)
		c = s.Device("u", "d").Dial(t) // outlives the server
		call(st, c, "echo", "x")
	})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("client still connected after the server's cleanup")
	}
	if code := envelope.CodeOf(c.Err()); code != envelope.CodeServerShutdown {
		t.Fatalf("client ended with %v (code %q), want SERVER_SHUTDOWN", c.Err(), code)
	}
}
