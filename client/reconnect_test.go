package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// TestReconnectAfterCut cuts the server's TCP connections with a call in
// flight: the call fails with a retryable error, the client reconnects to
// the same server by itself, and later calls succeed on the same Client.
func TestReconnectAfterCut(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release)
	s := newServer(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("block", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return &ratatoskrhttp.Response{}, nil
		})
	})
	st := newStates()
	o := newDevice(t, "alice", "phone-1").options()
	o.Reconnect = &client.ReconnectOptions{MinDelay: 10 * time.Millisecond, OnState: st.on}
	c := dial(t, s, o)
	first := c.Session().ID

	result := make(chan error, 1)
	go func() {
		_, err := c.Call(context.Background(), "block", nil)
		result <- err
	}()
	<-entered
	s.conns.cut()
	select {
	case err := <-result:
		if !client.Retryable(err) || envelope.CodeOf(err) != envelope.CodeUnavailable {
			t.Errorf("call in flight at the cut: %v (code %s), want retryable UNAVAILABLE", err, envelope.CodeOf(err))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call in flight did not fail")
	}
	st.waitFor(t, client.StateDisconnected, client.StateConnecting, client.StateConnected)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Call(ctx, "echo", []byte("again"))
	if err != nil || string(resp.Payload) != "again" {
		t.Fatalf("call after reconnecting: %v, %v", resp, err)
	}
	if c.Session().ID == first {
		t.Error("the session did not change")
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err() = %v while reconnected", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if !errors.Is(c.Err(), client.ErrClosed) {
		t.Errorf("Err() after Close = %v", c.Err())
	}
	st.waitFor(t, client.StateClosed)
}

// TestReconnectAfterShutdown shuts the first server down: the client
// reconnects through the proxy to a second server.
func TestReconnectAfterShutdown(t *testing.T) {
	t.Parallel()
	s1, s2 := newServer(t, nil, nil), newServer(t, nil, nil)
	p := newProxy(t, s1)
	st := newStates()
	o := newDevice(t, "alice", "phone-1").options()
	o.Reconnect = &client.ReconnectOptions{MinDelay: 10 * time.Millisecond, OnState: st.on}
	c := dial(t, p.server(), o)

	p.redirect(s2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s1.h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	err := st.waitFor(t, client.StateDisconnected)
	if envelope.CodeOf(err) != envelope.CodeServerShutdown {
		t.Errorf("disconnected with %v, want SERVER_SHUTDOWN", err)
	}
	st.waitFor(t, client.StateConnecting, client.StateConnected)
	if _, err := c.Call(ctx, "echo", nil); err != nil {
		t.Fatalf("call on the second server: %v", err)
	}
	if n := s2.conns.accepted(); n != 1 {
		t.Errorf("second server accepted %d connections, want 1", n)
	}
}

// TestReconnectForbidden ends the session with a code that forbids
// reconnecting: the client ends for good, without dialing again.
func TestReconnectForbidden(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, s *server, c *client.Client, st *states, dials int) {
		t.Helper()
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the client did not end")
		}
		err := c.Err()
		if envelope.CodeOf(err) != envelope.CodeAuthFailed || !errors.Is(err, client.ErrClosed) || client.Retryable(err) {
			t.Errorf("Err() = %v (code %s), want ErrClosed with AUTH_FAILED, not retryable", err, envelope.CodeOf(err))
		}
		if got := st.waitFor(t, client.StateClosed); got != err {
			t.Errorf("OnState(closed, %v), want Err's %v", got, err)
		}
		if _, cerr := c.Call(context.Background(), "echo", nil); cerr != err {
			t.Errorf("call after the end: %v, want %v", cerr, err)
		}
		time.Sleep(50 * time.Millisecond) // MinDelay is 1 ms: a retry would be visible
		if n := s.conns.accepted(); n != dials {
			t.Errorf("server accepted %d connections, want %d", n, dials)
		}
	}

	t.Run("revoked by the server", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, nil, nil)
		st := newStates()
		o := newDevice(t, "alice", "phone-1").options()
		o.Reconnect = &client.ReconnectOptions{MinDelay: time.Millisecond, OnState: st.on}
		c := dial(t, s, o)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if n, err := s.h.Disconnect(ctx, ratatoskrhttp.Selector{DeviceID: "phone-1"}, envelope.CodeAuthFailed); n != 1 || err != nil {
			t.Fatalf("Disconnect: %d, %v", n, err)
		}
		check(t, s, c, st, 1)
	})
	t.Run("handshake refused while reconnecting", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, nil, nil)
		st := newStates()
		d := newDevice(t, "alice", "phone-1")
		o := d.options()
		o.Reconnect = &client.ReconnectOptions{MinDelay: time.Millisecond, OnState: st.on}
		// Dial uses Token; reconnecting asks TokenSource, whose token the
		// server refuses: it is signed with another secret.
		o.TokenSource = func(context.Context) (string, error) {
			return auth.MintHS256([]byte("another-secret-of-at-least-32-bytes"),
				auth.MintOptions{UserID: d.user, DeviceID: d.id, DevicePublicKey: d.pub, TTL: time.Hour})
		}
		c := dial(t, s, o)
		s.conns.cut()
		check(t, s, c, st, 2)
	})
}

// TestReconnectBackoff drives the backoff with an injected clock: the
// delays stay within [0, min(MaxDelay, MinDelay·2^n)] while tries fail,
// and start over after a successful connection.
func TestReconnectBackoff(t *testing.T) {
	t.Parallel()
	const minDelay, maxDelay = time.Second, 5 * time.Second
	s := newServer(t, nil, nil)
	p := newProxy(t, s)
	clk := newClock()
	st := newStates()
	o := newDevice(t, "alice", "phone-1").options()
	o.Reconnect = &client.ReconnectOptions{MinDelay: minDelay, MaxDelay: maxDelay, After: clk.After, OnState: st.on}
	c := dial(t, p.server(), o)

	p.redirect(nil) // every try fails
	p.cut()
	const failures = 6
	for n := range failures {
		d := clk.next(t)
		if bound := min(maxDelay, minDelay<<n); d < 0 || d > bound {
			t.Errorf("delay before try %d: %v, want within [0, %v]", n+1, d, bound)
		}
		if n == failures-1 {
			p.redirect(s)
		}
		clk.fire()
	}
	st.waitFor(t, client.StateConnected)
	if got := p.dialed(); got != failures+1 {
		t.Errorf("%d dials, want %d", got, failures+1)
	}
	if _, err := c.Call(context.Background(), "echo", nil); err != nil {
		t.Fatalf("call after reconnecting: %v", err)
	}

	// Connected again: the next delay starts over.
	p.cut()
	if d := clk.next(t); d < 0 || d > minDelay {
		t.Errorf("delay after a successful connection: %v, want within [0, %v]", d, minDelay)
	}
	// Close stops the backoff under way.
	within(t, time.Second, "Close during backoff", func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := c.Err(); err != client.ErrClosed {
		t.Errorf("Err() = %v, want ErrClosed", err)
	}
}

// TestReconnectWaitForConnection makes calls while the client is
// disconnected: they fail at once with a retryable error, or, with
// WaitForConnection, wait for the new connection within their context.
func TestReconnectWaitForConnection(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T, wait bool) (*client.Client, *clock) {
		s := newServer(t, nil, nil)
		clk := newClock()
		o := newDevice(t, "alice", "phone-1").options()
		o.Reconnect = &client.ReconnectOptions{WaitForConnection: wait, After: clk.After}
		c := dial(t, s, o)
		s.conns.cut()
		clk.next(t) // disconnected, waiting for its backoff
		return c, clk
	}

	t.Run("fail at once", func(t *testing.T) {
		t.Parallel()
		c, clk := setup(t, false)
		_, err := c.Call(context.Background(), "echo", nil)
		if !errors.Is(err, client.ErrDisconnected) || !client.Retryable(err) || envelope.CodeOf(err) != envelope.CodeUnavailable {
			t.Errorf("call while disconnected: %v, want ErrDisconnected, retryable", err)
		}
		clk.fire()
		waitFor(t, "reconnection", func() bool {
			_, err := c.Call(context.Background(), "echo", nil)
			return err == nil
		})
	})
	t.Run("wait", func(t *testing.T) {
		t.Parallel()
		c, clk := setup(t, true)
		short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, err := c.Call(short, "echo", nil); !errors.Is(err, context.DeadlineExceeded) || !client.Retryable(err) {
			t.Errorf("call whose context ends while disconnected: %v, want DeadlineExceeded, retryable", err)
		}

		result := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := c.Call(ctx, "echo", []byte("x"))
			result <- err
		}()
		select {
		case err := <-result:
			t.Fatalf("call returned while disconnected: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		clk.fire()
		select {
		case err := <-result:
			if err != nil {
				t.Errorf("call waiting for the connection: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the waiting call did not return")
		}
	})
	t.Run("Close ends the wait", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t, true)
		result := make(chan error, 1)
		go func() {
			_, err := c.Call(context.Background(), "echo", nil)
			result <- err
		}()
		time.Sleep(20 * time.Millisecond)
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-result:
			if err != client.ErrClosed {
				t.Errorf("waiting call at Close: %v, want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the waiting call did not return")
		}
	})
}

// TestReconnectCloseDuringDial closes the client while it performs a
// handshake that the server never answers: Close cuts it short.
func TestReconnectCloseDuringDial(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, nil)
	mute := newFakeServer(t, true).server()
	p := newProxy(t, s)
	st := newStates()
	o := newDevice(t, "alice", "phone-1").options()
	o.Reconnect = &client.ReconnectOptions{MinDelay: time.Millisecond, OnState: st.on}
	c := dial(t, p.server(), o)
	p.redirect(mute)
	p.cut()
	st.waitFor(t, client.StateDisconnected, client.StateConnecting)
	waitFor(t, "the handshake to reach the mute server", func() bool { return p.dialed() == 2 })
	within(t, time.Second, "Close during a dial", func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	st.waitFor(t, client.StateClosed)
}

// states records what OnState reports.
type states struct{ ch chan stateChange }

type stateChange struct {
	s   client.State
	err error
}

func newStates() *states { return &states{ch: make(chan stateChange, 256)} }

func (s *states) on(st client.State, err error) { s.ch <- stateChange{st, err} }

// waitFor waits for the states want, in order, skipping others, and
// returns the error reported with the last.
func (s *states) waitFor(t *testing.T, want ...client.State) error {
	t.Helper()
	var err error
	for _, w := range want {
		for got := (stateChange{s: -1}); got.s != w; {
			select {
			case got = <-s.ch:
				err = got.err
			case <-time.After(5 * time.Second):
				t.Fatalf("OnState(%v) did not come", w)
			}
		}
	}
	return err
}

// clock is an injected ReconnectOptions.After: each delay asked is
// reported by next, and passes when the test calls fire.
type clock struct {
	asked chan time.Duration
	fires chan chan time.Time
	last  chan time.Time
}

func newClock() *clock {
	return &clock{asked: make(chan time.Duration, 16), fires: make(chan chan time.Time, 16)}
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.fires <- ch
	c.asked <- d
	return ch
}

// next waits for the client to ask for a delay and returns it.
func (c *clock) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.asked:
		c.last = <-c.fires
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("the client asked for no delay")
		return 0
	}
}

// fire ends the delay next returned.
func (c *clock) fire() { c.last <- time.Now() }

// proxy forwards TCP connections to a server that the test can change, or
// to none (it then closes them at once), and counts them.
type proxy struct {
	ln  net.Listener
	wg  sync.WaitGroup
	mu  sync.Mutex
	to  string // host:port; "": refuse
	n   int
	cs  []net.Conn
	end bool
}

func newProxy(t *testing.T, s *server) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	p.redirect(s)
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		p.end = true
		p.mu.Unlock()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *proxy) server() *server { return &server{url: "ws://" + p.ln.Addr().String()} }

// redirect sends the next connections to s, or refuses them when s is nil.
func (p *proxy) redirect(s *server) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.to = ""
	if s != nil {
		p.to = strings.TrimPrefix(s.url, "ws://")
	}
}

// dialed returns how many connections the proxy accepted.
func (p *proxy) dialed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// cut closes every connection forwarded so far.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.cs {
		c.Close()
	}
	p.cs = nil
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.n++
		to := p.to
		p.mu.Unlock()
		if to == "" {
			down.Close()
			continue
		}
		up, err := net.Dial("tcp", to)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		if p.end {
			p.mu.Unlock()
			down.Close()
			up.Close()
			continue
		}
		p.cs = append(p.cs, down, up)
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		p.wg.Add(2)
		go pipe(up, down)
		go pipe(down, up)
	}
}

// accepted returns how many connections the server accepted.
func (l *tracker) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}
