package client_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// TestCloseContext closes clients whose server never answers the
// DISCONNECT, or answers it late: CloseContext returns soon after its
// context ends, with the context's error, and leaves none of the client's
// goroutines behind. It does not run in parallel, so that no other test's
// client runs meanwhile (see noClientGoroutines); its subtests take 0.5 s.
func TestCloseContext(t *testing.T) {
	// closeWithin runs close, which must return within a second, and
	// checks what is left.
	closeWithin := func(t *testing.T, c *client.Client, close func() error) error {
		t.Helper()
		var err error
		start := time.Now()
		within(t, 2*time.Second, "CloseContext", func() { err = close() })
		if d := time.Since(start); d > time.Second {
			t.Errorf("close returned after %v", d)
		}
		select {
		case <-c.Done():
		default:
			t.Error("Done not closed after CloseContext")
		}
		if got := c.Err(); got != client.ErrClosed {
			t.Errorf("Err() = %v, want ErrClosed", got)
		}
		noClientGoroutines(t)
		return err
	}
	deadline := func(d time.Duration) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		t.Cleanup(cancel)
		return ctx
	}
	expectDeadline := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, context.DeadlineExceeded) || envelope.CodeOf(err) != envelope.CodeUnavailable {
			t.Errorf("close: %v (code %s), want UNAVAILABLE wrapping context.DeadlineExceeded", err, envelope.CodeOf(err))
		}
	}

	t.Run("DISCONNECT never answered", func(t *testing.T) {
		c := dial(t, newFakeServer(t, false).server(), newDevice(t, "alice", "phone-1").options())
		expectDeadline(t, closeWithin(t, c, func() error { return c.CloseContext(deadline(100 * time.Millisecond)) }))
	})
	t.Run("server draining a call", func(t *testing.T) {
		entered, release := make(chan struct{}), make(chan struct{})
		defer close(release)
		s := newServer(t, nil, func(h *ratatoskrhttp.Handler) {
			h.HandleFunc("block", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
				close(entered)
				<-release // the server answers DISCONNECT after this call
				return &ratatoskrhttp.Response{}, nil
			})
		})
		c := dial(t, s, newDevice(t, "alice", "phone-1").options())
		result := make(chan error, 1)
		go func() {
			_, err := c.Call(context.Background(), "block", nil)
			result <- err
		}()
		<-entered
		expectDeadline(t, closeWithin(t, c, func() error { return c.CloseContext(deadline(100 * time.Millisecond)) }))
		if err := <-result; !errors.Is(err, client.ErrClosed) || client.Retryable(err) {
			t.Errorf("call in flight at Close: %v, want ErrClosed, not retryable", err)
		}
	})
	t.Run("Close bounded by CloseTimeout", func(t *testing.T) {
		o := newDevice(t, "alice", "phone-1").options()
		o.CloseTimeout = 100 * time.Millisecond
		c := dial(t, newFakeServer(t, false).server(), o)
		expectDeadline(t, closeWithin(t, c, c.Close))
	})
	t.Run("the first context to end ends every close", func(t *testing.T) {
		c := dial(t, newFakeServer(t, false).server(), newDevice(t, "alice", "phone-1").options())
		first := make(chan error, 1)
		go func() { first <- c.Close() }() // CloseTimeout: 10 s
		waitFor(t, "Close to start", func() bool {
			// The server answers nothing: a call sent before Close would
			// wait for Close's end.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
			defer cancel()
			_, err := c.Call(ctx, "echo", nil)
			return errors.Is(err, client.ErrClosed)
		})
		expectDeadline(t, closeWithin(t, c, func() error { return c.CloseContext(deadline(100 * time.Millisecond)) }))
		select {
		case err := <-first:
			expectDeadline(t, err)
		case <-time.After(time.Second):
			t.Fatal("the first Close still waits")
		}
	})
	t.Run("context already ended", func(t *testing.T) {
		c := dial(t, newServer(t, nil, nil), newDevice(t, "alice", "phone-1").options())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := closeWithin(t, c, func() error { return c.CloseContext(ctx) })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("CloseContext: %v, want context.Canceled", err)
		}
		// The next close returns the first one's result at once.
		if err2 := c.CloseContext(context.Background()); err2 != err {
			t.Errorf("second CloseContext: %v, want %v", err2, err)
		}
	})
}

// noClientGoroutines fails when a goroutine that the test did not start
// runs code of package client (a Client's reader, writer, heartbeat loop,
// renewal, or a context.AfterFunc of its): once CloseContext returns, none
// may be left. A goroutine that has just signalled its end (wg.Done) may
// still be listed for an instant as it returns, so, like goleak, it looks
// again for up to 100 ms; a goroutine still blocked stays listed. Run it
// when no other test's client is running.
func noClientGoroutines(t *testing.T) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(100 * time.Millisecond); ; time.Sleep(time.Millisecond) {
		left = clientGoroutines()
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, g := range left {
		t.Errorf("goroutine left after CloseContext:\n%s", g)
	}
}

func clientGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		test := strings.Contains(g, "testing.tRunner") || strings.Contains(g, "created by github.com/ratatoskr-proto/ratatoskr/client_test.")
		if strings.Contains(g, "ratatoskr/client.") && !test {
			found = append(found, g)
		}
	}
	return found
}
