package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// TestErrorCodes provokes each way a call or a Dial fails, over real
// connections, and checks the error's code, Retryable, and what errors.Is
// still finds in it.
func TestErrorCodes(t *testing.T) {
	t.Parallel()
	// withBlock registers "block", which holds a call until its context ends
	// or release closes (Close waits for the server's answer, which waits
	// for "block"), and reports each call on entered; and "pay", which
	// declines.
	withBlock := func(entered chan<- struct{}, release <-chan struct{}) func(h *ratatoskrhttp.Handler) {
		return func(h *ratatoskrhttp.Handler) {
			h.HandleFunc("block", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
				if entered != nil {
					entered <- struct{}{}
				}
				select {
				case <-ctx.Done():
				case <-release:
				}
				return nil, envelope.NewError(envelope.CodeUnavailable, "released")
			})
			h.HandleFunc("pay", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
				return nil, envelope.NewError("PAYMENT_DECLINED", "card declined")
			})
		}
	}
	ctx5s := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		return ctx
	}
	tests := []struct {
		name      string
		fail      func(t *testing.T) error
		code      envelope.Code
		retryable bool
		is        []error // errors.Is must find each
		isNot     []error // and none of these
	}{
		{
			name: "call past its deadline",
			fail: func(t *testing.T) error {
				release := make(chan struct{})
				defer close(release)
				c := dial(t, newServer(t, nil, withBlock(nil, release)), newDevice(t, "alice", "phone-1").options())
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				_, err := c.Call(ctx, "block", nil)
				return err
			},
			code: envelope.CodeUnavailable, retryable: true,
			is: []error{context.DeadlineExceeded}, isNot: []error{client.ErrClosed},
		},
		{
			name: "call cancelled",
			fail: func(t *testing.T) error {
				release := make(chan struct{})
				defer close(release)
				c := dial(t, newServer(t, nil, withBlock(nil, release)), newDevice(t, "alice", "phone-1").options())
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				_, err := c.Call(ctx, "block", nil)
				return err
			},
			code: envelope.CodeUnavailable, retryable: false,
			is: []error{context.Canceled}, isNot: []error{client.ErrClosed},
		},
		{
			name: "connection cut under a call",
			fail: func(t *testing.T) error {
				entered, release := make(chan struct{}, 1), make(chan struct{})
				defer close(release)
				s := newServer(t, nil, withBlock(entered, release))
				c := dial(t, s, newDevice(t, "alice", "phone-1").options())
				errc := make(chan error, 1)
				go func() {
					_, err := c.Call(ctx5s(t), "block", nil)
					errc <- err
				}()
				<-entered
				s.conns.cut()
				return <-errc
			},
			code: envelope.CodeUnavailable, retryable: true, is: []error{client.ErrClosed},
		},
		{
			name: "call after the server's shutdown",
			fail: func(t *testing.T) error {
				s := newServer(t, nil, nil)
				c := dial(t, s, newDevice(t, "alice", "phone-1").options())
				if err := s.h.Shutdown(ctx5s(t)); err != nil {
					t.Fatal(err)
				}
				within(t, 5*time.Second, "Done", func() { <-c.Done() })
				_, err := c.Call(ctx5s(t), "echo", nil)
				return err
			},
			code: envelope.CodeServerShutdown, retryable: true, is: []error{client.ErrClosed},
		},
		{
			name: "session expired",
			fail: func(t *testing.T) error {
				s := newServer(t, &ratatoskrhttp.Options{MaxSessionDuration: 300 * time.Millisecond}, nil)
				c := dial(t, s, newDevice(t, "alice", "phone-1").options())
				within(t, 5*time.Second, "Done", func() { <-c.Done() })
				return c.Err()
			},
			code: envelope.CodeSessionExpired, retryable: true, is: []error{client.ErrClosed},
		},
		{
			name: "heartbeat unanswered",
			fail: func(t *testing.T) error {
				o := newDevice(t, "alice", "phone-1").options()
				o.HeartbeatInterval = 30 * time.Millisecond
				c := dial(t, newFakeServer(t, false).server(), o)
				within(t, 5*time.Second, "Done", func() { <-c.Done() })
				return c.Err()
			},
			code: envelope.CodeUnavailable, retryable: true, is: []error{client.ErrClosed, context.DeadlineExceeded},
		},
		{
			name: "call after Close",
			fail: func(t *testing.T) error {
				c := dial(t, newServer(t, nil, nil), newDevice(t, "alice", "phone-1").options())
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				_, err := c.Call(ctx5s(t), "echo", nil)
				return err
			},
			code: envelope.CodeUnavailable, retryable: false, is: []error{client.ErrClosed},
		},
		{
			name: "application error",
			fail: func(t *testing.T) error {
				c := dial(t, newServer(t, nil, withBlock(nil, nil)), newDevice(t, "alice", "phone-1").options())
				_, err := c.Call(ctx5s(t), "pay", nil)
				return err
			},
			code: "PAYMENT_DECLINED", retryable: false, isNot: []error{client.ErrClosed},
		},
		{
			name: "unknown service",
			fail: func(t *testing.T) error {
				c := dial(t, newServer(t, nil, nil), newDevice(t, "alice", "phone-1").options())
				_, err := c.Call(ctx5s(t), "nowhere", nil)
				return err
			},
			code: envelope.CodeUnknownService, retryable: false,
		},
		{
			name: "handshake refused",
			fail: func(t *testing.T) error {
				o := newDevice(t, "alice", "phone-1").options()
				o.Token = newDevice(t, "alice", "phone-2").token(time.Hour)
				_, err := client.Dial(ctx5s(t), newServer(t, nil, nil).url, o)
				return err
			},
			code: envelope.CodeIdentityMismatch, retryable: false,
		},
		{
			name: "handshake unanswered",
			fail: func(t *testing.T) error {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				_, err := client.Dial(ctx, newFakeServer(t, true).url, newDevice(t, "alice", "phone-1").options())
				return err
			},
			code: envelope.CodeUnavailable, retryable: true, is: []error{context.DeadlineExceeded},
		},
		{
			name: "server unreachable",
			fail: func(t *testing.T) error {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := l.Addr().String()
				l.Close()
				_, err = client.Dial(ctx5s(t), "ws://"+addr+"/", newDevice(t, "alice", "phone-1").options())
				return err
			},
			code: envelope.CodeUnavailable, retryable: true,
		},
		{
			name: "upgrade refused by a draining server",
			fail: func(t *testing.T) error {
				s := newServer(t, nil, nil)
				if err := s.h.Shutdown(ctx5s(t)); err != nil {
					t.Fatal(err)
				}
				_, err := client.Dial(ctx5s(t), s.url, newDevice(t, "alice", "phone-1").options())
				return err
			},
			code: envelope.CodeUnavailable, retryable: true,
		},
		{
			name: "upgrade refused: not found",
			fail: func(t *testing.T) error {
				srv := httptest.NewServer(http.NotFoundHandler())
				t.Cleanup(srv.Close)
				_, err := client.Dial(ctx5s(t), "ws"+strings.TrimPrefix(srv.URL, "http"), newDevice(t, "alice", "phone-1").options())
				return err
			},
			code: envelope.CodeConnectionRejected, retryable: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.fail(t)
			if err == nil {
				t.Fatal("no error")
			}
			t.Logf("error: %v", err)
			if got := envelope.CodeOf(err); got != tt.code {
				t.Errorf("CodeOf(%v) = %s, want %s", err, got, tt.code)
			}
			// An application that adds its own context changes nothing.
			for _, e := range []error{err, fmt.Errorf("sync: %w", err)} {
				if got := client.Retryable(e); got != tt.retryable {
					t.Errorf("Retryable(%v) = %v, want %v", e, got, tt.retryable)
				}
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
			for _, target := range tt.isNot {
				if errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = true", err, target)
				}
			}
		})
	}
}

// TestRetryable checks Retryable's verdict on each code, however it
// arrives: answered by the server, as the reason of a server DISCONNECT,
// or not at all.
func TestRetryable(t *testing.T) {
	t.Parallel()
	retryable := map[envelope.Code]bool{
		envelope.CodeUnavailable:       true,
		envelope.CodeRateLimited:       true,
		envelope.CodeServerShutdown:    true,
		envelope.CodeSessionExpired:    true,
		envelope.CodeHandshakeRequired: true,
	}
	for _, code := range append(envelope.Codes(), "PAYMENT_DECLINED") {
		err := envelope.NewError(code, "x")
		if got := client.Retryable(err); got != retryable[code] {
			t.Errorf("Retryable(%s) = %v, want %v", code, got, retryable[code])
		}
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"ErrClosed after Close", client.ErrClosed, false},
		{"a plain error", errors.New("boom"), false},
		{"ErrResponseSignature", client.ErrResponseSignature, false},
		{"a context's deadline", context.DeadlineExceeded, true},
		{"a context cancelled", context.Canceled, false},
		{"UNAVAILABLE wrapping a cancellation", envelope.WrapError(envelope.CodeUnavailable, "x", context.Canceled), false},
	}
	for _, tt := range tests {
		if got := client.Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := envelope.CodeOf(client.ErrClosed); got != envelope.CodeUnavailable {
		t.Errorf("CodeOf(ErrClosed) = %s, want UNAVAILABLE", got)
	}
}
