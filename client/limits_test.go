package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// gauge counts the calls inside a service and remembers the peak.
type gauge struct{ running, peak atomic.Int32 }

func (g *gauge) enter() {
	n := g.running.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (g *gauge) leave() { g.running.Add(-1) }

// slowService registers "slow", which holds each call for d, on h.
func slowService(g *gauge, d time.Duration) func(h *ratatoskrhttp.Handler) {
	return func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			g.enter()
			defer g.leave()
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
			return &ratatoskrhttp.Response{Payload: r.Payload}, nil
		})
	}
}

// blockService registers "block" on h: each call holds until it receives
// from hold (or its context ends).
func blockService(g *gauge, hold <-chan struct{}) func(h *ratatoskrhttp.Handler) {
	return func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("block", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			g.enter()
			defer g.leave()
			select {
			case <-hold:
			case <-ctx.Done():
			}
			return &ratatoskrhttp.Response{}, nil
		})
	}
}

// goCall starts a call of service and returns the channel of its error.
func goCall(c *client.Client, service string) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), service, nil)
		ch <- err
	}()
	return ch
}

// concurrentCalls makes n calls of service at once and returns their
// errors.
func concurrentCalls(c *client.Client, n int, service string) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := c.Call(context.Background(), service, fmt.Appendf(nil, "%d", i))
			if err == nil && string(resp.Payload) != fmt.Sprint(i) {
				err = fmt.Errorf("payload %q", resp.Payload)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errs
}

func TestHeldToServerInFlight(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		server, own  int
		wantBound    int
		wantAnnounce int
	}{
		{"server bound alone", 2, 0, 2, 2},
		{"own bound larger", 2, 5, 2, 2},
		{"own bound smaller", 5, 2, 2, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var g gauge
			s := newServer(t, &ratatoskrhttp.Options{MaxInFlight: tt.server}, slowService(&g, 30*time.Millisecond))
			o := newDevice(t, "alice", "phone-1").options()
			o.MaxInFlight = tt.own
			c := dial(t, s, o)
			if got := c.Limits().MaxInFlight; got != tt.wantAnnounce {
				t.Errorf("Limits().MaxInFlight = %d, want %d", got, tt.wantAnnounce)
			}

			for i, err := range concurrentCalls(c, 10, "slow") {
				if err != nil {
					t.Errorf("call %d: %v (code %q)", i, err, envelope.CodeOf(err))
				}
			}
			if p := g.peak.Load(); p > int32(tt.wantBound) {
				t.Errorf("the service ran %d calls at once, want at most %d", p, tt.wantBound)
			}
		})
	}
}

func TestCallGivingUpOnSlot(t *testing.T) {
	t.Parallel()
	var g gauge
	hold := make(chan struct{})
	s := newServer(t, &ratatoskrhttp.Options{MaxInFlight: 2}, blockService(&g, hold))
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())

	// fill starts two calls and waits until both are in the service: both
	// slots are free.
	fill := func() []<-chan error {
		t.Helper()
		calls := []<-chan error{goCall(c, "block"), goCall(c, "block")}
		waitFor(t, "two calls in the service", func() bool { return g.running.Load() == 2 })
		return calls
	}
	// drain lets the calls finish.
	drain := func(calls []<-chan error) {
		t.Helper()
		for range calls {
			hold <- struct{}{}
		}
		for _, ch := range calls {
			if err := <-ch; err != nil {
				t.Fatal(err)
			}
		}
	}

	calls := fill()
	// Calls waiting for a slot give up with their context, past a deadline
	// or cancelled, many at once.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			var ctx context.Context
			var cancel context.CancelFunc
			want := context.DeadlineExceeded
			if i%2 == 0 {
				ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
			} else {
				ctx, cancel = context.WithCancel(context.Background())
				time.AfterFunc(30*time.Millisecond, cancel)
				want = context.Canceled
			}
			defer cancel()
			if _, err := c.Call(ctx, "block", nil); !errors.Is(err, want) {
				t.Errorf("waiting call %d: %v, want %v", i, err, want)
			}
		})
	}
	wg.Wait()
	drain(calls)

	// No slot was kept by the calls that gave up: two calls fit at once
	// again; and none was freed twice: a third still waits.
	calls = fill()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, "block", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third call: %v, want context.DeadlineExceeded", err)
	}
	drain(calls)
	if p := g.peak.Load(); p != 2 {
		t.Errorf("the service ran %d calls at once, want 2", p)
	}
	if _, err := c.Call(context.Background(), "echo", []byte("after")); err != nil {
		t.Fatal(err)
	}
}

func TestHeldToServerRequestRate(t *testing.T) {
	t.Parallel()
	s := newServer(t, &ratatoskrhttp.Options{RequestRate: 20, RequestBurst: 2}, nil)
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())
	want := envelope.Limits{MaxInFlight: 64, RequestRate: 20, RequestBurst: 2}
	if got := c.Limits(); got != want {
		t.Fatalf("Limits() = %+v, want %+v", got, want)
	}

	// Faster than 20/s if nothing held them; none is refused.
	for i := range 6 {
		var err error
		if i%2 == 0 {
			err = c.Heartbeat(context.Background())
		} else {
			_, err = c.Call(context.Background(), "echo", nil)
		}
		if err != nil {
			t.Fatalf("request %d: %v (code %q)", i, err, envelope.CodeOf(err))
		}
	}
	for i, err := range concurrentCalls(c, 4, "echo") {
		if err != nil {
			t.Errorf("concurrent call %d: %v (code %q)", i, err, envelope.CodeOf(err))
		}
	}
	if err := c.Renew(context.Background(), ""); err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if got := c.Limits(); got != want {
		t.Errorf("Limits() after Renew = %+v, want %+v", got, want)
	}
	if err := c.Heartbeat(context.Background()); err != nil {
		t.Fatalf("heartbeat after Renew: %v", err)
	}
	if n := s.log.count("HEARTBEAT"); n != 4 {
		t.Errorf("server saw %d heartbeats, want 4", n)
	}
}

func TestCloseNotHeldToRate(t *testing.T) {
	t.Parallel()
	// One token every 100 s: after a heartbeat, a request held to the rate
	// would wait past Close's timeout, and so fail at once.
	s := newServer(t, &ratatoskrhttp.Options{RequestRate: 0.01, RequestBurst: 2}, nil)
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())
	if err := c.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := c.Close()
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close waited for the request rate: %v", err)
	}
	if n := s.log.count("DISCONNECT"); n != 1 {
		t.Fatalf("server saw %d DISCONNECT requests, want 1", n)
	}
	// The server never refuses a DISCONNECT for the rate (docs/PROTOCOL.md,
	// "Validation order (server)").
	if err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestRateWaitPastDeadline(t *testing.T) {
	t.Parallel()
	s := newServer(t, &ratatoskrhttp.Options{RequestRate: 1, RequestBurst: 2}, nil)
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())
	for range 2 {
		if err := c.Heartbeat(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// The next token is about a second away: a call with less time fails
	// without waiting, and sends nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, "echo", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call that the rate would hold past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if err := c.Heartbeat(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("heartbeat that the rate would hold past its deadline: %v, want context.DeadlineExceeded", err)
	}
	// Cancelled while waiting.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := c.Call(ctx, "echo", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("call cancelled while waiting for the rate: %v, want context.Canceled", err)
	}
	if resp, err := c.Call(context.Background(), "echo", []byte("later")); err != nil || string(resp.Payload) != "later" {
		t.Fatalf("call that waits: %v %v", resp, err)
	}
	if n := s.log.count("BUSINESS_REQUEST"); n != 1 {
		t.Errorf("server saw %d business requests, want 1", n)
	}
}

func TestHeartbeatLoopHeldToRate(t *testing.T) {
	t.Parallel()
	s := newServer(t, &ratatoskrhttp.Options{RequestRate: 10, RequestBurst: 2}, nil)
	warns := &warnings{}
	o := newDevice(t, "alice", "phone-1").options()
	o.HeartbeatInterval = 50 * time.Millisecond // twice what the rate allows
	o.Logger = slog.New(warns)
	c := dial(t, s, o)

	for i := range 5 {
		if _, err := c.Call(context.Background(), "echo", nil); err != nil {
			t.Fatalf("call %d: %v (code %q)", i, err, envelope.CodeOf(err))
		}
	}
	waitFor(t, "automatic heartbeats", func() bool { return s.log.count("HEARTBEAT") >= 3 })
	if err := c.Err(); err != nil {
		t.Fatalf("connection ended: %v", err)
	}
	if w := warns.all(); len(w) > 0 {
		t.Errorf("client warnings: %q", w)
	}
}

func TestSendNotHeld(t *testing.T) {
	t.Parallel()
	t.Run("in flight", func(t *testing.T) {
		t.Parallel()
		var g gauge
		hold := make(chan struct{})
		s := newServer(t, &ratatoskrhttp.Options{MaxInFlight: 1}, blockService(&g, hold))
		d := newDevice(t, "alice", "phone-1")
		c := dial(t, s, d.options())
		done := goCall(c, "block")
		waitFor(t, "a call in the service", func() bool { return g.running.Load() == 1 })

		// The only slot is taken; Send goes anyway and meets the server's bound.
		signer := &envelope.Signer{DeviceID: d.id, UserID: d.user, Key: d.key, Scheme: c.Scheme()}
		req, err := signer.Business("echo", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := c.Send(ctx, req)
		if err != nil || resp.GetErrorCode() != string(envelope.CodeRateLimited) {
			t.Fatalf("Send while the slot is taken: %v %v, want RATE_LIMITED", resp, err)
		}
		hold <- struct{}{}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := c.Call(context.Background(), "echo", nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("rate", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, &ratatoskrhttp.Options{RequestRate: 1, RequestBurst: 1}, nil)
		d := newDevice(t, "alice", "phone-1")
		c := dial(t, s, d.options())
		signer := &envelope.Signer{DeviceID: d.id, UserID: d.user, Key: d.key, Scheme: c.Scheme()}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var codes []string
		for range 3 {
			req, err := signer.Heartbeat()
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Send(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			codes = append(codes, resp.GetErrorCode())
		}
		if codes[0] != "" || codes[1] != string(envelope.CodeRateLimited) || codes[2] != string(envelope.CodeRateLimited) {
			t.Fatalf("codes of three heartbeats sent at once: %q, want one accepted and two RATE_LIMITED", codes)
		}
		// SendRaw does not wait either.
		req, err := signer.Heartbeat()
		if err != nil {
			t.Fatal(err)
		}
		frame, err := envelope.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SendRaw(ctx, websocket.MessageBinary, frame); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-c.Unsolicited():
			if r.GetMessageType() != pb.MessageType_HEARTBEAT || r.GetErrorCode() != string(envelope.CodeRateLimited) {
				t.Fatalf("answer to the raw heartbeat: %v", r)
			}
		case <-ctx.Done():
			t.Fatal("no answer to the raw heartbeat")
		}
		// What Send took counts: the client's own heartbeat waits for the
		// server's next token instead of being refused.
		if err := c.Heartbeat(ctx); err != nil {
			t.Fatalf("Heartbeat after the flood: %v", err)
		}
	})
}

func TestLimitsAnnounced(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts *ratatoskrhttp.Options
		want envelope.Limits
	}{
		{"defaults", nil, envelope.Limits{MaxInFlight: 64, RequestRate: 100, RequestBurst: 300}},
		{"rate off", &ratatoskrhttp.Options{RequestRate: -1}, envelope.Limits{MaxInFlight: 64}},
		{"all", &ratatoskrhttp.Options{MaxInFlight: 3, RequestRate: 50, RequestBurst: 7}, envelope.Limits{MaxInFlight: 3, RequestRate: 50, RequestBurst: 7}},
		{"default burst", &ratatoskrhttp.Options{RequestRate: 0.5}, envelope.Limits{MaxInFlight: 64, RequestRate: 0.5, RequestBurst: 1}},
		{"infinite rate", &ratatoskrhttp.Options{RequestRate: rate.Inf}, envelope.Limits{MaxInFlight: 64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, tt.opts, nil)
			d := newDevice(t, "alice", "phone-1")
			c := dial(t, s, d.options())
			if got := c.Limits(); got != tt.want {
				t.Errorf("Limits() = %+v, want %+v", got, tt.want)
			}
			if err := c.Renew(context.Background(), d.token(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got := c.Limits(); got != tt.want {
				t.Errorf("Limits() after Renew = %+v, want %+v", got, tt.want)
			}
		})
	}

	t.Run("server announcing nothing", func(t *testing.T) {
		t.Parallel()
		f := newFakeServer(t, false)
		o := newDevice(t, "alice", "phone-1").options()
		o.CloseTimeout = 100 * time.Millisecond // the fake server never answers DISCONNECT
		c := dial(t, f.server(), o)
		if got := c.Limits(); got != (envelope.Limits{}) {
			t.Errorf("Limits() = %+v, want zero", got)
		}
	})
}

// warnings is a slog.Handler that keeps the messages logged at Warn and
// above.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler           { return w }
func (w *warnings) WithGroup(string) slog.Handler                { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Message)
	return nil
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}
