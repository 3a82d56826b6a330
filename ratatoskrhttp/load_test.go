package ratatoskrhttp_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// 64 business requests in flight at once on one connection: all answered,
// matched by request_id, possibly out of order.
func TestManyInFlightOneConnection(t *testing.T) {
	const n = 64
	var mu sync.Mutex
	inside, peak := 0, 0
	gate := make(chan struct{})
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("gate", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			mu.Lock()
			inside++
			peak = max(peak, inside)
			if inside == n {
				close(gate)
			}
			mu.Unlock()
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return &ratatoskrhttp.Response{Payload: r.Payload}, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	want := map[string]string{}
	for i := range n {
		req := d.business("gate", []byte(fmt.Sprint(i)))
		want[req.RequestId] = fmt.Sprint(i)
		d.send(req)
	}
	for range n {
		resp := d.recv()
		p, ok := want[resp.RequestId]
		if !ok || !resp.Success || string(resp.Payload) != p {
			t.Fatalf("unexpected %v", resp)
		}
		delete(want, resp.RequestId)
	}
	if peak != n {
		t.Fatalf("peak in flight %d, want %d", peak, n)
	}
}

// 50 connections at once, each with a handshake and a few calls.
func TestManyConnections(t *testing.T) {
	hs := newHarness(t, nil, nil)
	const conns, calls = 50, 5
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Go(func() {
			d := newDevice(t, fmt.Sprintf("user-%d", i), "phone")
			d.connect(hs)
			for j := range calls {
				payload := fmt.Sprintf("%d/%d", i, j)
				resp := d.roundTrip(d.business("echo", []byte(payload)))
				if !resp.Success || string(resp.Payload) != payload || resp.MessageType != pb.MessageType_BUSINESS_REQUEST {
					errs <- fmt.Errorf("conn %d call %d: %v", i, j, resp)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := hs.h.Sessions(); got != conns {
		t.Fatalf("%d sessions open, want %d", got, conns)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := hs.h.Sessions(); got != 0 {
		t.Fatalf("%d sessions after shutdown", got)
	}
}
