package ratatoskrhttp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// realServer serves h with a real http.Server on a loopback port. The
// returned channel gets srv.Serve's result.
func realServer(t *testing.T, h *ratatoskrhttp.Handler) (*harness, *http.Server, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // ends with srv.Shutdown or srv.Close
	t.Cleanup(func() { srv.Close() })
	return &harness{h: h, url: "ws://" + ln.Addr().String()}, srv, served
}

func newTestHandler(t *testing.T) *ratatoskrhttp.Handler {
	t.Helper()
	a, err := auth.NewJWT(auth.WithHMACSecret(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: a})
}

// ShutdownServer on a real http.Server with several devices, each with a
// call in flight: it returns only once every call has been answered and
// every device has had its DISCONNECT and close frame, so a process may
// exit as soon as it returns.
func TestShutdownServerWaitsForSessions(t *testing.T) {
	const devices = 5
	started := make(chan struct{}, devices)
	release := make(chan struct{})
	h := newTestHandler(t)
	h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		started <- struct{}{}
		<-release
		return &ratatoskrhttp.Response{Payload: r.Payload}, nil
	})
	hs, srv, served := realServer(t, h)

	ds := make([]*device, devices)
	ids := make([]string, devices)
	for i := range ds {
		ds[i] = newDevice(t, "alice", fmt.Sprintf("phone-%d", i)).connect(hs)
		req := ds[i].business("slow", []byte(ds[i].signer.DeviceID))
		ids[i] = req.RequestId
		ds[i].send(req)
	}
	for range devices {
		<-started
	}

	// Each device reads as a real one does: its answer, the DISCONNECT,
	// then the close frame (which it must answer for the server to finish
	// closing).
	type result struct {
		answer, disconnect *pb.RatatoskrResponse
		err                error // reading the answer or the DISCONNECT
		closeErr           error // the read that ends with the close frame
	}
	results := make([]result, devices)
	disconnected := make(chan int, devices)
	readers := make(chan struct{}, devices)
	for i, d := range ds {
		go func() { // ends when the connection closes (5s read timeouts)
			defer func() { readers <- struct{}{} }()
			r := &results[i]
			if r.answer, r.err = d.tryRecv(5 * time.Second); r.err != nil {
				return
			}
			if r.disconnect, r.err = d.tryRecv(5 * time.Second); r.err != nil {
				return
			}
			disconnected <- i
			for r.closeErr == nil {
				_, r.closeErr = d.tryRecv(5 * time.Second)
			}
		}()
	}

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- ratatoskrhttp.ShutdownServer(ctx, srv, h)
	}()
	// The shutdown has begun once new upgrades are refused.
	waitFor(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, hs.url, &websocket.DialOptions{Subprotocols: []string{ratatoskrhttp.Subprotocol}})
		if err == nil {
			ws.CloseNow()
		}
		return err != nil
	})
	select {
	case err := <-done:
		t.Fatalf("ShutdownServer returned %v with calls in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)

	if err := <-done; err != nil {
		t.Fatalf("ShutdownServer: %v", err)
	}
	// ShutdownServer returned only once the devices had their DISCONNECT
	// (the server's close waits for each device's reply to its close
	// frame, which follows the DISCONNECT): a process may exit now.
	if n := len(disconnected); n != devices {
		t.Fatalf("ShutdownServer returned when %d of %d devices had their DISCONNECT", n, devices)
	}
	for range devices {
		<-readers
	}
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("device %d: %v", i, r.err)
		}
		if !r.answer.Success || r.answer.RequestId != ids[i] || string(r.answer.Payload) != ds[i].signer.DeviceID {
			t.Fatalf("device %d: in-flight call: %v", i, r.answer)
		}
		if r.disconnect.MessageType != pb.MessageType_DISCONNECT || r.disconnect.ErrorCode != string(envelope.CodeServerShutdown) {
			t.Fatalf("device %d: disconnect: %v", i, r.disconnect)
		}
		if got := websocket.CloseStatus(r.closeErr); got != websocket.StatusGoingAway {
			t.Fatalf("device %d: closed with %v (%v), want %v", i, got, r.closeErr, websocket.StatusGoingAway)
		}
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if n := h.Sessions(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	// Still refused afterwards.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if ws, _, err := websocket.Dial(ctx, hs.url, nil); err == nil {
		ws.CloseNow()
		t.Fatal("upgrade accepted after shutdown")
	}
}

// A service that ignores its context does not hold ShutdownServer past
// its deadline: it returns the context's error.
func TestShutdownServerDeadline(t *testing.T) {
	unblock := make(chan struct{})
	started := make(chan struct{}, 1)
	h := newTestHandler(t)
	h.HandleFunc("stuck", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		started <- struct{}{}
		<-unblock // ignores ctx
		return nil, nil
	})
	t.Cleanup(func() { close(unblock) })
	hs, srv, _ := realServer(t, h)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	d.send(d.business("stuck", nil))
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err := ratatoskrhttp.ShutdownServer(ctx, srv, h)
	if err != context.DeadlineExceeded {
		t.Fatalf("ShutdownServer: %v, want %v", err, context.DeadlineExceeded)
	}
	if took := time.Since(begin); took > 3*time.Second {
		t.Fatalf("ShutdownServer took %v", took)
	}
	// The connection was cut.
	for {
		if _, err := d.tryRecv(5 * time.Second); err != nil {
			break
		}
	}
}
