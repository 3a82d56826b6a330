package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

func TestDialAndCall(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil)
	d := newDevice(t, "alice", "phone-1")
	c := dial(t, s, d.options())

	if got := c.Subprotocol(); got != client.SubprotocolV2 || c.Scheme() != envelope.SchemeV2 {
		t.Errorf("Subprotocol() = %q, Scheme() = %v; want %q and v2", got, c.Scheme(), client.SubprotocolV2)
	}
	sess := c.Session()
	if sess.ID == "" || sess.ServerVersion != ratatoskrhttp.DefaultServerVersion {
		t.Errorf("Session() = %+v", sess)
	}
	if exp := time.Until(sess.ExpiresAt); exp < 59*time.Minute || exp > 61*time.Minute {
		t.Errorf("ExpiresAt in %v, want the token's hour", exp)
	}

	resp, err := c.Call(context.Background(), "echo", []byte("hello"), client.WithMetadata(map[string]string{"trace": "t1"}))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Payload) != "hello" || resp.RequestID == "" {
		t.Errorf("response %+v", resp)
	}
	if resp.Metadata["trace"] != "t1" || resp.Metadata["service"] != "echo" {
		t.Errorf("metadata %v: the echo service returns the request's metadata", resp.Metadata)
	}
	select {
	case <-c.Done():
		t.Fatal("Done closed on a live connection")
	default:
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err() = %v on a live connection", err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, func(h *ratatoskrhttp.Handler) {
		// Answers in reverse order of arrival, to prove correlation by id.
		h.HandleFunc("slow-echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			var n int
			fmt.Sscan(string(r.Payload), &n)
			time.Sleep(time.Duration(64-n) * time.Millisecond)
			return &ratatoskrhttp.Response{Payload: r.Payload}, nil
		})
	})
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())

	const n = 64 // the server's default in-flight bound
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			want := fmt.Sprint(i)
			resp, err := c.Call(context.Background(), "slow-echo", []byte(want))
			switch {
			case err != nil:
				errs <- fmt.Errorf("call %d: %w", i, err)
			case string(resp.Payload) != want:
				errs <- fmt.Errorf("call %d got payload %q", i, resp.Payload)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMaxInFlight(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var running, peak atomic.Int32
	s := newServer(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("block", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return &ratatoskrhttp.Response{}, nil
		})
	})
	o := newDevice(t, "alice", "phone-1").options()
	o.MaxInFlight = 2
	c := dial(t, s, o)

	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := c.Call(context.Background(), "block", nil); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, "two calls running", func() bool { return running.Load() == 2 })

	// A third call waits for a slot, honouring its context.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, "block", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third call: %v, want context.DeadlineExceeded", err)
	}
	// Heartbeats do not need a slot.
	if err := c.Heartbeat(context.Background()); err != nil {
		t.Fatalf("Heartbeat while the slots are taken: %v", err)
	}
	close(release)
	wg.Wait()
	if _, err := c.Call(context.Background(), "block", nil); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("server saw %d calls at once, want 2", p)
	}
}

func TestCallContextCancelled(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	s := newServer(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("block", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return &ratatoskrhttp.Response{Payload: []byte("late")}, nil
		})
	})
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Call(ctx, "block", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Call: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Call returned %v after its context ended", d)
	}

	// An already ended context fails before anything is sent.
	if _, err := c.Call(ctx, "echo", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call with a done context: %v", err)
	}

	// The late answer is discarded; the connection is still fine.
	close(release)
	resp, err := c.Call(context.Background(), "echo", []byte("after"))
	if err != nil || string(resp.Payload) != "after" {
		t.Fatalf("echo after a cancelled call: %v %v", resp, err)
	}
	select {
	case r := <-c.Unsolicited():
		t.Errorf("late answer delivered as unsolicited: %v", r)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestDialRefused(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil)
	other := newDevice(t, "alice", "phone-2")
	tests := []struct {
		name string
		opts func(d *device) *client.Options
		want envelope.Code
	}{
		{"bad token", func(d *device) *client.Options {
			o := d.options()
			o.Token = o.Token[:len(o.Token)-4] + "AAAA"
			return o
		}, envelope.CodeAuthFailed},
		{"expired token", func(d *device) *client.Options {
			o := d.options()
			tok, err := authMintExpired(d)
			if err != nil {
				t.Fatal(err)
			}
			o.Token = tok
			return o
		}, envelope.CodeAuthFailed},
		{"token of another device", func(d *device) *client.Options {
			o := d.options()
			o.Token = other.token(time.Hour)
			return o
		}, envelope.CodeIdentityMismatch},
		{"key not bound to the token", func(d *device) *client.Options {
			o := d.options()
			o.PrivateKey = other.key
			return o
		}, envelope.CodeSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, s.url, tt.opts(newDevice(t, "alice", "phone-1")))
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			var e *envelope.Error
			if !errors.As(err, &e) || e.Code() != tt.want {
				t.Fatalf("Dial: %v, want code %s", err, tt.want)
			}
		})
	}
}

func authMintExpired(d *device) (string, error) {
	past := time.Now().Add(-2 * time.Hour)
	return mint(d, time.Hour, func() time.Time { return past })
}

func TestDialOptions(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "alice", "phone-1")
	tests := []struct {
		name string
		edit func(o *client.Options)
	}{
		{"no device", func(o *client.Options) { o.DeviceID = "" }},
		{"no user", func(o *client.Options) { o.UserID = "" }},
		{"no key", func(o *client.Options) { o.PrivateKey = nil }},
		{"no token", func(o *client.Options) { o.Token = "" }},
		{"negative heartbeat", func(o *client.Options) { o.HeartbeatInterval = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := d.options()
			tt.edit(o)
			if c, err := client.Dial(context.Background(), "ws://127.0.0.1:1/", o); err == nil {
				c.Close()
				t.Fatal("Dial accepted the options")
			}
		})
	}
	if _, err := client.Dial(context.Background(), "ws://127.0.0.1:1/", nil); err == nil {
		t.Fatal("Dial accepted nil options")
	}
}

func TestTokenSource(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil)
	d := newDevice(t, "alice", "phone-1")
	var calls atomic.Int32
	o := d.options()
	o.Token = ""
	o.TokenSource = func(ctx context.Context) (string, error) {
		calls.Add(1)
		return d.token(2 * time.Hour), nil
	}
	c := dial(t, s, o)
	if calls.Load() != 1 {
		t.Fatalf("TokenSource called %d times by Dial", calls.Load())
	}
	if err := c.Renew(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Fatalf("TokenSource called %d times after Renew", calls.Load())
	}

	failing := d.options()
	failing.Token = ""
	boom := errors.New("no network")
	failing.TokenSource = func(context.Context) (string, error) { return "", boom }
	if _, err := client.Dial(context.Background(), s.url, failing); !errors.Is(err, boom) {
		t.Fatalf("Dial with a failing TokenSource: %v", err)
	}
}

func TestServiceErrors(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("pay", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			return nil, envelope.NewError("PAYMENT_DECLINED", "card declined")
		})
	})
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())

	tests := []struct {
		service string
		code    envelope.Code
		msg     string
	}{
		{"pay", "PAYMENT_DECLINED", "card declined"},
		{"nowhere", envelope.CodeUnknownService, ""},
	}
	for _, tt := range tests {
		_, err := c.Call(context.Background(), tt.service, nil)
		var e *envelope.Error
		if !errors.As(err, &e) || e.Code() != tt.code {
			t.Fatalf("Call(%q): %v, want code %s", tt.service, err, tt.code)
		}
		if tt.msg != "" && e.Message() != tt.msg {
			t.Errorf("Call(%q) message %q, want %q", tt.service, e.Message(), tt.msg)
		}
		if errors.Is(err, client.ErrClosed) {
			t.Errorf("a per-request error wraps ErrClosed: %v", err)
		}
	}
	// A per-request error leaves the connection usable.
	if _, err := c.Call(context.Background(), "echo", nil); err != nil {
		t.Fatal(err)
	}
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil)
	o := newDevice(t, "alice", "phone-1").options()
	c := dial(t, s, o)
	if err := c.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.log.count("HEARTBEAT"); n != 1 {
		t.Fatalf("server saw %d heartbeats, want 1", n)
	}

	o2 := newDevice(t, "bob", "phone-9").options()
	o2.HeartbeatInterval = 20 * time.Millisecond
	dial(t, s, o2)
	waitFor(t, "automatic heartbeats", func() bool { return s.log.count("HEARTBEAT") >= 4 })
}

func TestHeartbeatUnansweredDropsConnection(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, false)
	o := newDevice(t, "alice", "phone-1").options()
	o.HeartbeatInterval = 30 * time.Millisecond
	c := dial(t, f.server(), o)

	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not dropped after unanswered heartbeats")
	}
	err := c.Err()
	if !errors.Is(err, client.ErrClosed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Err() = %v, want ErrClosed and the heartbeat's deadline", err)
	}
	if _, err := c.Call(context.Background(), "echo", nil); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Call after the drop: %v", err)
	}
}

func TestRenew(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil)
	d := newDevice(t, "alice", "phone-1")
	o := d.options()
	o.Token = d.token(10 * time.Minute)
	c := dial(t, s, o)
	before := c.Session()

	if err := c.Renew(context.Background(), d.token(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	after := c.Session()
	if exp := time.Until(after.ExpiresAt); exp < 179*time.Minute || exp > 181*time.Minute {
		t.Errorf("ExpiresAt in %v after renewal, want 3 h", exp)
	}
	if after.ID != before.ID {
		t.Errorf("session id changed from %q to %q", before.ID, after.ID)
	}

	// A token for another device is refused and changes nothing.
	other := newDevice(t, "alice", "phone-2")
	err := c.Renew(context.Background(), other.token(5*time.Hour))
	var e *envelope.Error
	if !errors.As(err, &e) || e.Code() != envelope.CodeIdentityMismatch {
		t.Fatalf("Renew with another device's token: %v", err)
	}
	if got := c.Session(); got != after {
		t.Errorf("session changed by a refused renewal: %+v", got)
	}
	if _, err := c.Call(context.Background(), "echo", nil); err != nil {
		t.Fatal(err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil)
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())

	within(t, 5*time.Second, "Close", func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if n := s.log.count("DISCONNECT"); n != 1 {
		t.Errorf("server saw %d DISCONNECT requests, want 1", n)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if err := c.Err(); err != client.ErrClosed {
		t.Errorf("Err() = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Call(context.Background(), "echo", nil); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Call after Close: %v", err)
	}
	if err := c.Heartbeat(context.Background()); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Heartbeat after Close: %v", err)
	}
	if err := c.SendRaw(context.Background(), websocket.MessageBinary, nil); !errors.Is(err, client.ErrClosed) {
		t.Errorf("SendRaw after Close: %v", err)
	}
	waitFor(t, "the server to end the session", func() bool { return s.h.Sessions() == 0 })
}

func TestCloseConcurrent(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil)
	o := newDevice(t, "alice", "phone-1").options()
	o.HeartbeatInterval = 10 * time.Millisecond
	c := dial(t, s, o)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	within(t, 5*time.Second, "concurrent Close", wg.Wait)
}

func TestConnectionCutMidCall(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 4)
	s := newServer(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("block", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			entered <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		})
	})
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())

	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.Call(context.Background(), "block", nil)
			errs <- err
		}()
	}
	for range 3 {
		<-entered
	}
	s.conns.cut()
	for range 3 {
		select {
		case err := <-errs:
			if !errors.Is(err, client.ErrClosed) {
				t.Errorf("pending call: %v, want ErrClosed", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("pending call still waiting after the connection was cut")
		}
	}
	<-c.Done()
	if err := c.Err(); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Err() = %v", err)
	}
	start := time.Now()
	if _, err := c.Call(context.Background(), "echo", nil); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Call after the cut: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Call after the cut took %v", d)
	}
	within(t, time.Second, "Close after the cut", func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close after the cut: %v", err)
		}
	})
}

func TestServerShutdown(t *testing.T) {
	t.Parallel()
	t.Run("call in flight finishes", func(t *testing.T) {
		t.Parallel()
		entered, release := make(chan struct{}), make(chan struct{})
		s := newServer(t, nil, func(h *ratatoskrhttp.Handler) {
			h.HandleFunc("block", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
				close(entered)
				<-release
				return &ratatoskrhttp.Response{Payload: []byte("done")}, nil
			})
		})
		c := dial(t, s, newDevice(t, "alice", "phone-1").options())
		result := make(chan error, 1)
		go func() {
			resp, err := c.Call(context.Background(), "block", nil)
			if err == nil && string(resp.Payload) != "done" {
				err = fmt.Errorf("payload %q", resp.Payload)
			}
			result <- err
		}()
		<-entered
		shut := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			shut <- s.h.Shutdown(ctx)
		}()
		// While the server drains, new calls are refused with SERVER_SHUTDOWN.
		waitFor(t, "the server to drain", func() bool {
			_, err := c.Call(context.Background(), "echo", nil)
			return envelope.CodeOf(err) == envelope.CodeServerShutdown
		})
		close(release)
		if err := <-result; err != nil {
			t.Fatalf("call in flight during shutdown: %v", err)
		}
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("client still connected after Shutdown")
		}
		expectShutdown(t, c.Err())
		_, err := c.Call(context.Background(), "echo", nil)
		expectShutdown(t, err)
		var got bool
		for r := range c.Unsolicited() {
			if r.GetMessageType() == pb.MessageType_DISCONNECT && r.GetErrorCode() == string(envelope.CodeServerShutdown) {
				got = true
			}
		}
		if !got {
			t.Error("no DISCONNECT on Unsolicited")
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close after the server's DISCONNECT: %v", err)
		}
	})
	t.Run("call in flight cut", func(t *testing.T) {
		t.Parallel()
		entered := make(chan struct{})
		s := newServer(t, nil, func(h *ratatoskrhttp.Handler) {
			h.HandleFunc("block", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
				close(entered)
				<-ctx.Done()
				return nil, ctx.Err()
			})
		})
		c := dial(t, s, newDevice(t, "alice", "phone-1").options())
		result := make(chan error, 1)
		go func() {
			_, err := c.Call(context.Background(), "block", nil)
			result <- err
		}()
		<-entered
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		s.h.Shutdown(ctx)
		select {
		case err := <-result:
			// The service's cancellation is answered (UNAVAILABLE: retry
			// elsewhere), or the connection went first.
			if err == nil {
				t.Fatal("call succeeded")
			}
			if code := envelope.CodeOf(err); !errors.Is(err, client.ErrClosed) && code != envelope.CodeUnavailable {
				t.Fatalf("call in flight: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("call in flight hangs after Shutdown")
		}
		within(t, 5*time.Second, "Done", func() { <-c.Done() })
		if !errors.Is(c.Err(), client.ErrClosed) {
			t.Fatalf("Err() = %v", c.Err())
		}
	})
}

func expectShutdown(t *testing.T, err error) {
	t.Helper()
	var e *envelope.Error
	if !errors.Is(err, client.ErrClosed) || !errors.As(err, &e) || e.Code() != envelope.CodeServerShutdown {
		t.Errorf("error %v, want ErrClosed with code SERVER_SHUTDOWN", err)
	}
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	s := newServer(t, &ratatoskrhttp.Options{MaxSessionDuration: 300 * time.Millisecond}, nil)
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session did not expire")
	}
	var e *envelope.Error
	if err := c.Err(); !errors.Is(err, client.ErrClosed) || !errors.As(err, &e) || e.Code() != envelope.CodeSessionExpired {
		t.Fatalf("Err() = %v, want ErrClosed with SESSION_EXPIRED", err)
	}
}

func TestSend(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil)
	d := newDevice(t, "alice", "phone-1")
	c := dial(t, s, d.options())
	signer := &envelope.Signer{DeviceID: d.id, UserID: d.user, Key: d.key, Scheme: c.Scheme()}

	req, err := signer.Business("echo", []byte("raw"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Send(context.Background(), req)
	if err != nil || !resp.GetSuccess() || string(resp.GetPayload()) != "raw" || resp.GetRequestId() != req.GetRequestId() {
		t.Fatalf("Send: %v %v", resp, err)
	}
	// The same request again is a replay; Send returns the refusal as is.
	if resp, err = c.Send(context.Background(), req); err != nil || resp.GetErrorCode() != string(envelope.CodeReplayDetected) {
		t.Fatalf("replay: %v %v", resp, err)
	}
	forged, _ := signer.Business("echo", []byte("x"), nil)
	forged.Payload = []byte("y")
	if resp, err = c.Send(context.Background(), forged); err != nil || resp.GetErrorCode() != string(envelope.CodeSignatureInvalid) {
		t.Fatalf("forged: %v %v", resp, err)
	}
	if _, err := c.Send(context.Background(), &pb.RatatoskrRequest{}); err == nil {
		t.Fatal("Send accepted a request without request_id")
	}
}

func TestSendRawGarbage(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil)
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())

	if err := c.SendRaw(context.Background(), websocket.MessageBinary, []byte{0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-c.Unsolicited():
		if r.GetMessageType() != pb.MessageType_ERROR || r.GetErrorCode() != string(envelope.CodeMalformed) {
			t.Fatalf("answer to garbage: %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to garbage")
	}
	if _, err := c.Call(context.Background(), "echo", nil); err != nil {
		t.Fatalf("echo after garbage: %v", err)
	}

	// A text frame is refused with an ERROR and close 1003.
	if err := c.SendRaw(context.Background(), websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "Done after a text frame", func() { <-c.Done() })
	if err := c.Err(); websocket.CloseStatus(err) != websocket.StatusUnsupportedData || !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Err() = %v, want ErrClosed with close status 1003", err)
	}
}

func TestUnsolicitedDropsOldest(t *testing.T) {
	t.Parallel()
	s := newServer(t, &ratatoskrhttp.Options{MaxProtocolErrors: 100}, nil)
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())
	const n = 40
	for i := range n {
		// Undecodable frames whose request_id the server still finds.
		frame := append([]byte{0x12, 3}, fmt.Sprintf("%03d", i)...)
		frame = append(frame, 0xff)
		if err := c.SendRaw(context.Background(), websocket.MessageBinary, frame); err != nil {
			t.Fatal(err)
		}
	}
	// Every frame has been answered once a later call is.
	if _, err := c.Call(context.Background(), "echo", nil); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for len(ids) < 16 {
		select {
		case r := <-c.Unsolicited():
			ids = append(ids, r.GetRequestId())
		default:
			t.Fatalf("Unsolicited holds %d answers, want 16", len(ids))
		}
	}
	if ids[0] != fmt.Sprintf("%03d", n-16) || ids[15] != fmt.Sprintf("%03d", n-1) {
		t.Fatalf("Unsolicited kept %v, want the 16 most recent", ids)
	}
}

func TestDialContext(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.Dial(ctx, f.server().url, newDevice(t, "alice", "phone-1").options())
	if err == nil {
		t.Fatal("Dial succeeded against a server that never answers")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Dial returned after %v", d)
	}
}

func TestClockOutsideWindow(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil)
	o := newDevice(t, "alice", "phone-1").options()
	// A clock 10 minutes late is outside the server's window.
	o.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.Dial(ctx, s.url, o)
	if envelope.CodeOf(err) != envelope.CodeTimestampInvalid {
		t.Fatalf("Dial with a late clock: %v, want TIMESTAMP_INVALID", err)
	}
}

// counter is a deterministic, non-thread-safe random source: 0, 1, 2, ...
type counter struct{ n byte }

func (c *counter) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.n
		c.n++
	}
	return len(p), nil
}

func TestInjectedRand(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil)
	o := newDevice(t, "alice", "phone-1").options()
	o.Rand = &counter{}
	c := dial(t, s, o)

	// The handshake used 16 bytes of request id and 16 of nonce.
	want := &counter{n: 32}
	id, err := envelope.NewRequestID(want)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Call(context.Background(), "echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.RequestID != id {
		t.Fatalf("request id %q, want %q from Options.Rand", resp.RequestID, id)
	}
	// The client serialises reads from a source that is not safe for
	// concurrent use (the race detector checks).
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { c.Heartbeat(context.Background()) })
	}
	wg.Wait()
}
