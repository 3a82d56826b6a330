package ratatoskrhttp_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// Shutdown with calls in flight: each in-flight call gets its answer, new
// ones get SERVER_SHUTDOWN, then DISCONNECT SERVER_SHUTDOWN and close 1001.
func TestShutdownDrainsInFlight(t *testing.T) {
	started := make(chan struct{}, 8)
	release := make(chan struct{})
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			started <- struct{}{}
			<-release
			return &ratatoskrhttp.Response{Payload: r.Payload}, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	var ids []string
	for range 3 {
		req := d.business("slow", []byte("x"))
		ids = append(ids, req.RequestId)
		d.send(req)
	}
	for range 3 {
		<-started
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- hs.h.Shutdown(ctx)
	}()
	// New upgrades are refused while draining.
	waitFor(t, func() bool {
		resp, err := http.Get(hs.srv.URL)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	late := d.business("echo", nil)
	d.send(late)
	if resp := d.recv(); resp.RequestId != late.RequestId || resp.ErrorCode != string(envelope.CodeServerShutdown) {
		t.Fatalf("late call: %v", resp)
	}
	close(release)
	got := map[string]bool{}
	for range 3 {
		resp := d.recv()
		if !resp.Success {
			t.Fatalf("in-flight call: %v", resp)
		}
		got[resp.RequestId] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Fatalf("no answer for %s", id)
		}
	}
	resp := d.recv()
	if resp.MessageType != pb.MessageType_DISCONNECT || resp.ErrorCode != string(envelope.CodeServerShutdown) {
		t.Fatalf("disconnect: %v", resp)
	}
	d.expectClose(websocket.StatusGoingAway)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Twice is fine.
	if err := hs.h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// When Shutdown's context ends first, services see cancellation, the
// connections are cut, and Shutdown returns the context's error: nothing
// hangs.
func TestShutdownDeadline(t *testing.T) {
	cancelled := make(chan struct{})
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("stuck", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			<-ctx.Done()
			close(cancelled)
			return nil, ctx.Err()
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	d.send(d.business("stuck", nil))
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := hs.h.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v", err)
	}
	<-cancelled
	for {
		if _, err := d.tryRecv(5 * time.Second); err != nil {
			break
		}
	}
	if hs.h.Sessions() != 0 {
		t.Fatal("sessions left")
	}
}

func TestCloseIsImmediate(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	if err := hs.h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := hs.h.Close(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := d.tryRecv(5 * time.Second); err != nil {
			break
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
