package client_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// TestAutoRenew keeps a session of short tokens (3 s, so a session of 2 to
// 3 s: "exp" is in whole seconds) alive past its first expiry with calls in
// flight the whole time, RenewBefore being 2 s.
func TestAutoRenew(t *testing.T) {
	t.Parallel()
	const ttl, runFor = 3 * time.Second, 3500 * time.Millisecond
	tests := []struct {
		name string
		// fail reports whether the n-th call of TokenSource (from 1: Dial's)
		// fails.
		fail      func(n int32) bool
		minTokens int32
		retries   int // logged "retrying" at least
	}{
		{"renewed", func(int32) bool { return false }, 2, 0},
		// The first renewal fails and is tried again, within the session.
		{"failed renewal retried", func(n int32) bool { return n == 2 }, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, nil, func(h *ratatoskrhttp.Handler) {
				h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
					time.Sleep(100 * time.Millisecond)
					return &ratatoskrhttp.Response{Payload: r.Payload}, nil
				})
			})
			d := newDevice(t, "alice", "phone-1")
			var tokens atomic.Int32
			o := d.options()
			o.Token = ""
			o.TokenSource = func(ctx context.Context) (string, error) {
				if n := tokens.Add(1); tt.fail(n) {
					return "", envelope.NewError(envelope.CodeUnavailable, "token service down")
				}
				return d.token(ttl), nil
			}
			o.RenewBefore = 2 * time.Second
			logs := &messages{}
			o.Logger = slog.New(logs)
			c := dial(t, s, o)
			first := c.Session()
			if exp := time.Until(first.ExpiresAt); exp > ttl {
				t.Fatalf("session expires in %v, want at most the token's %v", exp, ttl)
			}

			// Four callers keep calls in flight until past the first expiry.
			stop := time.Now().Add(runFor)
			var wg sync.WaitGroup
			var calls atomic.Int32
			for range 4 {
				wg.Go(func() {
					for time.Now().Before(stop) {
						ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
						_, err := c.Call(ctx, "slow", []byte("x"))
						cancel()
						if err != nil {
							t.Errorf("call at %v: %v", time.Until(first.ExpiresAt), err)
							return
						}
						calls.Add(1)
					}
				})
			}
			wg.Wait()
			if !time.Now().After(first.ExpiresAt) {
				t.Fatalf("the test ended before the first expiry")
			}
			if err := c.Err(); err != nil {
				t.Fatalf("Err() = %v", err)
			}
			if got := c.Session(); !got.ExpiresAt.After(first.ExpiresAt) || got.ID != first.ID {
				t.Errorf("session %+v after renewals, first %+v: want the same id expiring later", got, first)
			}
			if n := tokens.Load(); n < tt.minTokens {
				t.Errorf("TokenSource called %d times, want at least %d", n, tt.minTokens)
			}
			for {
				select {
				case r := <-c.Unsolicited():
					if r.GetMessageType() == pb.MessageType_DISCONNECT {
						t.Fatalf("the server disconnected: %s", r.GetErrorCode())
					}
					continue
				default:
				}
				break
			}
			if n := logs.count("ratatoskr client: automatic renewal failed; retrying"); n < tt.retries {
				t.Errorf("%d failed renewals logged, want at least %d", n, tt.retries)
			}
			if n := logs.count("ratatoskr client: session renewed"); n < 1 {
				t.Errorf("%d renewals logged, want at least 1", n)
			}
			t.Logf("%d calls, %d tokens", calls.Load(), tokens.Load())
		})
	}
}

// TestAutoRenewOff checks that without a TokenSource, or with a negative
// RenewBefore, nothing renews the session: the server ends it.
func TestAutoRenewOff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		source    bool
		renew     time.Duration
		maxTokens int32
	}{
		{"no TokenSource", false, 0, 0},
		{"negative RenewBefore", true, -1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, &ratatoskrhttp.Options{MaxSessionDuration: time.Second}, nil)
			d := newDevice(t, "alice", "phone-1")
			o := d.options()
			var tokens atomic.Int32
			if tt.source {
				o.Token = ""
				o.TokenSource = func(ctx context.Context) (string, error) {
					tokens.Add(1)
					return d.token(time.Hour), nil
				}
			}
			o.RenewBefore = tt.renew
			c := dial(t, s, o)
			within(t, 5*time.Second, "session expiry", func() { <-c.Done() })
			if code := envelope.CodeOf(c.Err()); code != envelope.CodeSessionExpired || !errors.Is(c.Err(), client.ErrClosed) {
				t.Fatalf("Err() = %v, want ErrClosed with SESSION_EXPIRED", c.Err())
			}
			if n := tokens.Load(); n != tt.maxTokens {
				t.Errorf("TokenSource called %d times, want %d (Dial's)", n, tt.maxTokens)
			}
		})
	}
}

// messages is a slog.Handler that counts records by message.
type messages struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *messages) Enabled(context.Context, slog.Level) bool { return true }
func (m *messages) WithAttrs([]slog.Attr) slog.Handler       { return m }
func (m *messages) WithGroup(string) slog.Handler            { return m }
func (m *messages) Handle(_ context.Context, r slog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == nil {
		m.n = make(map[string]int)
	}
	m.n[r.Message]++
	return nil
}

func (m *messages) count(msg string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[msg]
}

// TestAutoRenewRefused checks that a token the server refuses is not sent
// again (the server counts such refusals against the device): the session
// expires after one logged failure.
func TestAutoRenewRefused(t *testing.T) {
	t.Parallel()
	s := newServer(t, &ratatoskrhttp.Options{MaxSessionDuration: 2 * time.Second}, nil)
	d, other := newDevice(t, "alice", "phone-1"), newDevice(t, "alice", "phone-2")
	var tokens atomic.Int32
	o := d.options()
	o.Token = ""
	o.TokenSource = func(ctx context.Context) (string, error) {
		if tokens.Add(1) == 1 {
			return d.token(time.Hour), nil
		}
		return other.token(time.Hour), nil // IDENTITY_MISMATCH
	}
	o.RenewBefore = time.Second
	logs := &messages{}
	o.Logger = slog.New(logs)
	c := dial(t, s, o)
	within(t, 5*time.Second, "session expiry", func() { <-c.Done() })
	if code := envelope.CodeOf(c.Err()); code != envelope.CodeSessionExpired {
		t.Fatalf("Err() = %v, want SESSION_EXPIRED", c.Err())
	}
	if n := tokens.Load(); n != 2 {
		t.Errorf("TokenSource called %d times, want 2 (Dial, one renewal)", n)
	}
	if n := logs.count("ratatoskr client: automatic renewal failed; the session will expire"); n != 1 {
		t.Errorf("%d failures logged, want 1", n)
	}
}
