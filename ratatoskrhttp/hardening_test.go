package ratatoskrhttp_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// A device that sends without reading cannot make the server run and
// buffer an unbounded number of requests: answers waiting to be written
// hold their in-flight slots, so admission stops.
func TestNonReadingPeerIsBounded(t *testing.T) {
	var calls atomic.Int32
	big := bytes.Repeat([]byte("x"), 512<<10)
	hs := newHarness(t, &ratatoskrhttp.Options{MaxInFlight: 2, WriteTimeout: 2 * time.Second}, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("big", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			calls.Add(1)
			return &ratatoskrhttp.Response{Payload: big}, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	const sent = 300
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range sent {
		req := d.business("big", nil)
		b, _ := envelope.Marshal(req)
		if err := d.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
			break // the server stopped reading: back-pressure reached the device
		}
		time.Sleep(2 * time.Millisecond) // slow enough that none is refused for being over the bound
	}
	time.Sleep(300 * time.Millisecond)
	t.Logf("%d of %d requests served", calls.Load(), sent)
	if n := calls.Load(); n >= sent/3 {
		t.Fatalf("%d of %d requests were served for a device that reads nothing", n, sent)
	}
}

// Shutdown returns when its context ends even if a service ignores its
// own context.
func TestShutdownDoesNotWaitForStuckService(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("stuck", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			close(started)
			<-release // ignores ctx: a service bug
			return nil, nil
		})
	})
	defer close(release) // lets the goroutines end before the leak check
	d := newDevice(t, "alice", "phone-1").connect(hs)
	d.send(d.business("stuck", nil))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if err := hs.h.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v", err)
	}
	if waited := time.Since(begin); waited > 2*time.Second {
		t.Fatalf("shutdown waited %v", waited)
	}
}

// A service answer that protobuf cannot encode (invalid UTF-8 in a
// string) still gets an answer: INTERNAL.
func TestUnencodableAnswer(t *testing.T) {
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("bad", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			return &ratatoskrhttp.Response{Metadata: map[string]string{"k": "\xff"}}, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	d.expectCode(d.business("bad", nil), envelope.CodeInternal)
	d.echo()
}

// slowAuth delays authentication, as a remote key registry would.
type slowAuth struct {
	auth.Authenticator
	delay time.Duration
}

func (s slowAuth) Authenticate(ctx context.Context, token string) (*auth.Identity, error) {
	time.Sleep(s.delay)
	return s.Authenticator.Authenticate(ctx, token)
}

// A handshake that arrives in time is answered even when authenticating
// it runs past the handshake deadline.
func TestSlowHandshakeInTime(t *testing.T) {
	a, _ := auth.NewJWT(auth.WithHMACSecret(testSecret))
	hs := newHarness(t, &ratatoskrhttp.Options{Authenticator: slowAuth{a, 250 * time.Millisecond}, HandshakeTimeout: 300 * time.Millisecond}, nil)
	d := newDevice(t, "alice", "phone-1").dial(hs)
	time.Sleep(150 * time.Millisecond)
	if resp := d.roundTrip(d.connectionRequest(d.token)); !resp.Success {
		t.Fatalf("handshake: %v", resp)
	}
	d.echo()
}

// Closing for repeated protocol errors still delivers the answers of the
// requests already being served.
func TestAbuseCloseDeliversInFlight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	hs := newHarness(t, &ratatoskrhttp.Options{MaxProtocolErrors: 2}, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			close(started)
			<-release
			return &ratatoskrhttp.Response{Payload: []byte("paid")}, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	slow := d.business("slow", nil)
	d.send(slow)
	<-started
	for range 2 {
		forged := d.business("echo", []byte("a"))
		forged.Payload = []byte("b")
		d.send(forged)
	}
	for range 2 {
		if resp := d.recv(); resp.ErrorCode != string(envelope.CodeSignatureInvalid) {
			t.Fatalf("forged: %v", resp)
		}
	}
	close(release)
	if resp := d.recv(); !resp.Success || resp.RequestId != slow.RequestId {
		t.Fatalf("in-flight answer: %v", resp)
	}
	d.expectClose(websocket.StatusPolicyViolation)
}

// The rate limit covers every request type, heartbeats included.
func TestRateLimitCoversHeartbeats(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{RequestRate: 1, RequestBurst: 2}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	for range 2 {
		hb, _ := d.signer.Heartbeat()
		if resp := d.roundTrip(hb); !resp.Success {
			t.Fatal(resp)
		}
	}
	hb, _ := d.signer.Heartbeat()
	d.expectCode(hb, envelope.CodeRateLimited)
}

// A service that panics without a Recoverer fails only its request.
func TestPanicWithoutRecoverer(t *testing.T) {
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("boom", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			panic("secret detail")
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	resp := d.expectCode(d.business("boom", nil), envelope.CodeInternal)
	if strings.Contains(resp.ErrorMessage, "secret") {
		t.Fatal("panic value leaked")
	}
	d.echo()
}

type panicAuth struct{}

func (panicAuth) Authenticate(context.Context, string) (*auth.Identity, error) { panic("auth bug") }

// A panic in a custom Authenticator refuses the handshake with INTERNAL
// (close 1008) instead of leaving the connection hanging; the detail stays
// in the log.
func TestPanicInAuthenticatorRefuses(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{Authenticator: panicAuth{}}, nil)
	d := newDevice(t, "alice", "phone-1").dial(hs)
	resp := d.expectCode(d.connectionRequest(d.token), envelope.CodeInternal)
	if strings.Contains(resp.ErrorMessage, "auth bug") {
		t.Fatal("panic value leaked")
	}
	d.expectClose(websocket.StatusPolicyViolation)
}

// A text frame is refused with 1003 whatever its size.
func TestOversizedTextFrameCloses(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{Validation: &envelope.ValidatorOptions{MaxMessageSize: 1024}}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	d.sendRaw(websocket.MessageText, bytes.Repeat([]byte("t"), 2048))
	if resp := d.recv(); resp.ErrorCode != string(envelope.CodeMalformed) || resp.MessageType != pb.MessageType_ERROR {
		t.Fatalf("text: %v", resp)
	}
	d.expectClose(websocket.StatusUnsupportedData)
}

// A renewal refused because the session is ending is still answered with
// a CONNECTION_RESPONSE.
func TestRenewalWhileClosing(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			close(started)
			<-release
			return nil, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	d.send(d.business("slow", nil))
	<-started
	dc, _ := d.signer.Disconnect()
	d.send(dc)
	renew := d.connectionRequest(d.mint(time.Hour))
	d.send(renew)
	resp := d.recv()
	if resp.RequestId != renew.RequestId || resp.MessageType != pb.MessageType_CONNECTION_RESPONSE || resp.Success {
		t.Fatalf("renewal while closing: %v", resp)
	}
	close(release)
}
