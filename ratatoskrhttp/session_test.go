package ratatoskrhttp_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

func TestRenewal(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1")
	d.token = d.mint(time.Hour)
	d.dial(hs)
	first, _ := envelope.ConnectionResult(d.roundTrip(d.connectionRequest(d.token)))

	resp := d.roundTrip(d.connectionRequest(d.mint(3 * time.Hour)))
	renewed, err := envelope.ConnectionResult(resp)
	if !resp.Success || err != nil || !renewed.Accepted {
		t.Fatalf("renewal: %v %v", resp, err)
	}
	if renewed.SessionId != first.SessionId || renewed.ExpiresAt < first.ExpiresAt+3600 {
		t.Fatalf("renewal %v after %v", renewed, first)
	}

	// A token for another user is refused, and the session goes on.
	mallory := newDevice(t, "mallory", "phone-1")
	mallory.pub = d.pub
	d.expectCode(d.connectionRequest(mallory.mint(time.Hour)), envelope.CodeIdentityMismatch)
	d.expectCode(d.connectionRequest("garbage"), envelope.CodeAuthFailed)
	d.echo()
}

func TestSessionExpires(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{MaxSessionDuration: 300 * time.Millisecond}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	resp := d.recv()
	if resp.MessageType != pb.MessageType_DISCONNECT || resp.ErrorCode != string(envelope.CodeSessionExpired) || resp.RequestId != "" {
		t.Fatalf("expiry: %v", resp)
	}
	d.expectClose(websocket.StatusNormalClosure)
}

// The device's DISCONNECT waits for its in-flight requests: their answers
// come first, then the DISCONNECT answer, then close 1000.
func TestDisconnectDrainsInFlight(t *testing.T) {
	release := make(chan struct{})
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			<-release
			return &ratatoskrhttp.Response{Payload: r.Payload}, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	slow := d.business("slow", []byte("late"))
	d.send(slow)
	dc, _ := d.signer.Disconnect()
	d.send(dc)
	// Requests after the DISCONNECT are refused.
	after := d.business("echo", nil)
	d.send(after)
	if resp := d.recv(); resp.RequestId != after.RequestId || resp.ErrorCode != string(envelope.CodeHandshakeRequired) {
		t.Fatalf("after disconnect: %v", resp)
	}
	close(release)
	if resp := d.recv(); resp.RequestId != slow.RequestId || !resp.Success {
		t.Fatalf("slow: %v", resp)
	}
	if resp := d.recv(); resp.RequestId != dc.RequestId || resp.MessageType != pb.MessageType_DISCONNECT || !resp.Success {
		t.Fatalf("disconnect: %v", resp)
	}
	d.expectClose(websocket.StatusNormalClosure)
}

func TestPingClosesDeadPeer(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	// Not reading means pongs are never sent: the server must give up.
	deadline := time.Now().Add(5 * time.Second)
	for hs.h.Sessions() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("dead peer not closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = d
}

func TestSessionSeenByService(t *testing.T) {
	got := make(chan ratatoskrhttp.Request, 1)
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("who", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			got <- *r
			return nil, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	req, _ := d.signer.Business("who", []byte("p"), map[string]string{"k": "v"})
	if resp := d.roundTrip(req); !resp.Success {
		t.Fatal(resp)
	}
	r := <-got
	if r.Service != "who" || r.UserID != "alice" || r.DeviceID != "phone-1" || r.Metadata["k"] != "v" || string(r.Payload) != "p" ||
		r.Session.ID == "" || r.Session.Identity.UserID != "alice" || r.RequestID != req.RequestId || r.Envelope == nil {
		t.Fatalf("request as seen by the service: %+v", r)
	}
}

// A request that arrives while an expired session drains gets
// SESSION_EXPIRED; the one in flight still gets its answer before the
// DISCONNECT.
func TestExpiryDrain(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	hs := newHarness(t, &ratatoskrhttp.Options{MaxSessionDuration: 500 * time.Millisecond}, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			close(started)
			<-release
			return &ratatoskrhttp.Response{Payload: []byte("done")}, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	slow := d.business("slow", nil)
	d.send(slow)
	<-started
	time.Sleep(700 * time.Millisecond) // past expiry: the session is draining
	d.expectCode(d.business("echo", nil), envelope.CodeSessionExpired)
	close(release)
	if resp := d.recv(); !resp.Success || resp.RequestId != slow.RequestId {
		t.Fatalf("in-flight answer: %v", resp)
	}
	if resp := d.recv(); resp.MessageType != pb.MessageType_DISCONNECT || resp.ErrorCode != string(envelope.CodeSessionExpired) {
		t.Fatalf("disconnect: %v", resp)
	}
	d.expectClose(websocket.StatusNormalClosure)
}

// A service that outlives RequestTimeout is answered UNAVAILABLE.
func TestRequestTimeout(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{RequestTimeout: 50 * time.Millisecond}, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	resp := d.expectCode(d.business("slow", nil), envelope.CodeUnavailable)
	if resp.ErrorMessage != "request timed out" {
		t.Fatalf("message %q", resp.ErrorMessage)
	}
	d.echo()
}

// Browsers from other origins are refused unless a pattern allows them;
// native devices send no Origin and are served.
func TestOriginPatterns(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{OriginPatterns: []string{"app.example.com"}}, nil)
	dial := func(origin string) (*websocket.Conn, *http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		return websocket.Dial(ctx, hs.url, &websocket.DialOptions{HTTPHeader: h})
	}
	if _, resp, err := dial("https://evil.example.net"); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v %v", resp, err)
	}
	for _, origin := range []string{"https://app.example.com", ""} {
		ws, _, err := dial(origin)
		if err != nil {
			t.Fatalf("origin %q refused: %v", origin, err)
		}
		ws.CloseNow()
	}
}
