package ratatoskrhttp_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// When DrainTimeout runs out with requests still running, each one is
// answered UNAVAILABLE (by its service if it honours its context, by the
// server if not), then the DISCONNECT and a close frame follow: the device
// never sees a bare EOF.
func TestDrainTimeoutAnswersEverything(t *testing.T) {
	release := make(chan struct{})
	defer close(release) // lets the stuck service end before the leak check
	hs := newHarness(t, &ratatoskrhttp.Options{DrainTimeout: 100 * time.Millisecond}, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("polite", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		h.HandleFunc("stuck", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			<-release // ignores its context: a service bug
			return &ratatoskrhttp.Response{Payload: []byte("too late")}, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	polite, stuck := d.business("polite", nil), d.business("stuck", nil)
	d.send(polite)
	d.send(stuck)
	dc, _ := d.signer.Disconnect()
	time.Sleep(20 * time.Millisecond) // both admitted
	d.send(dc)
	got := map[string]*pb.RatatoskrResponse{}
	for range 3 {
		r := d.recv()
		got[r.RequestId] = r
		if r.RequestId == dc.RequestId && len(got) < 3 {
			t.Fatalf("DISCONNECT came before every request was answered: %v", got)
		}
	}
	for _, req := range []*pb.RatatoskrRequest{polite, stuck} {
		if r := got[req.RequestId]; r == nil || r.ErrorCode != string(envelope.CodeUnavailable) {
			t.Fatalf("%s: %v, want UNAVAILABLE", req.Metadata["service"], r)
		}
	}
	if r := got[dc.RequestId]; r == nil || !r.Success || r.MessageType != pb.MessageType_DISCONNECT {
		t.Fatalf("disconnect: %v", r)
	}
	d.expectClose(websocket.StatusNormalClosure)
}

// Requests sent right after a DISCONNECT, while a request is still in
// flight, are each answered HANDSHAKE_REQUIRED before the DISCONNECT's
// answer.
func TestRequestsAfterDisconnectAnswered(t *testing.T) {
	release := make(chan struct{})
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			<-release
			return &ratatoskrhttp.Response{}, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	d.send(d.business("slow", nil))
	dc, _ := d.signer.Disconnect()
	d.send(dc)
	hb, _ := d.signer.Heartbeat()
	after := []*pb.RatatoskrRequest{d.business("echo", nil), hb, d.business("echo", []byte("x"))}
	for _, r := range after {
		d.send(r)
	}
	for _, r := range after {
		resp := d.recv()
		if resp.RequestId != r.RequestId || resp.ErrorCode != string(envelope.CodeHandshakeRequired) {
			t.Fatalf("after DISCONNECT: %v, want HANDSHAKE_REQUIRED for %s", resp, r.RequestId)
		}
	}
	close(release)
	if resp := d.recv(); !resp.Success || resp.MessageType != pb.MessageType_BUSINESS_REQUEST {
		t.Fatalf("slow: %v", resp)
	}
	if resp := d.recv(); resp.RequestId != dc.RequestId || !resp.Success {
		t.Fatalf("disconnect: %v", resp)
	}
	d.expectClose(websocket.StatusNormalClosure)
}

// A signed frame of a type that is not a request type is answered as
// ERROR, whatever the number.
func TestNonRequestTypeAnsweredAsError(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	for _, typ := range []pb.MessageType{pb.MessageType_CONNECTION_RESPONSE, pb.MessageType_ERROR, pb.MessageType_UNKNOWN, 99} {
		req := d.business("echo", nil)
		req.MessageType = typ
		d.resign(req)
		resp := d.roundTrip(req)
		if resp.MessageType != pb.MessageType_ERROR || resp.ErrorCode != string(envelope.CodeSchemaInvalid) {
			t.Fatalf("type %v answered %v %s", typ, resp.MessageType, resp.ErrorCode)
		}
	}
	d.echo()
}

// The device's DISCONNECT is never refused by the rate limit.
func TestDisconnectNotRateLimited(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{RequestRate: 0.001, RequestBurst: 1}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	d.echo() // uses the only token
	hb, _ := d.signer.Heartbeat()
	d.expectCode(hb, envelope.CodeRateLimited)
	dc, _ := d.signer.Disconnect()
	if resp := d.roundTrip(dc); !resp.Success {
		t.Fatalf("disconnect refused: %s", resp.ErrorCode)
	}
	d.expectClose(websocket.StatusNormalClosure)
}

// A service's context carries its deadline, ends with DeadlineExceeded,
// and cancels the contexts derived from it.
func TestRequestContext(t *testing.T) {
	type result struct {
		hasDeadline bool
		err         error
		derived     error
	}
	results := make(chan result, 1)
	hs := newHarness(t, &ratatoskrhttp.Options{RequestTimeout: 50 * time.Millisecond}, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("wait", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			_, ok := ctx.Deadline()
			child, cancel := context.WithCancel(ctx)
			defer cancel()
			<-child.Done()
			results <- result{ok, ctx.Err(), child.Err()}
			return nil, ctx.Err()
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	resp := d.expectCode(d.business("wait", nil), envelope.CodeUnavailable)
	r := <-results
	if !r.hasDeadline || r.err != context.DeadlineExceeded || r.derived != context.DeadlineExceeded {
		t.Fatalf("context: %+v (answer %q)", r, resp.ErrorMessage)
	}
	d.echo()
}

// An idle authenticated connection costs the server one goroutine: no
// writer, supervisor or worker waits while nothing happens.
func TestIdleConnectionHasOneGoroutine(t *testing.T) {
	hs := newHarness(t, nil, nil)
	const n = 20
	devices := make([]*device, n)
	for i := range devices {
		devices[i] = newDevice(t, "alice", fmt.Sprintf("phone-%d", i)).connect(hs)
		devices[i].echo() // a worker ran; it must go away again
	}
	time.Sleep(300 * time.Millisecond) // their workers exit after 100 ms idle
	before := runtime.NumGoroutine()
	for i := range n {
		newDevice(t, "bob", fmt.Sprintf("laptop-%d", i)).connect(hs).echo()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(50 * time.Millisecond)
		delta := runtime.NumGoroutine() - before
		if delta <= n+2 && delta >= n-2 {
			t.Logf("%d goroutines for %d idle connections", delta, n)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d more goroutines for %d idle connections, want about one each", delta, n)
		}
	}
}
