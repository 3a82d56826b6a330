package client_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

var testSecret = []byte("client-test-secret-of-at-least-32-bytes")

// server is the real ratatoskrhttp.Handler over httptest, with an echo
// service, a record of the requests it served, and a way to cut its TCP
// connections (httptest forgets hijacked ones).
type server struct {
	h     *ratatoskrhttp.Handler
	url   string
	conns *tracker
	log   *recorder
}

func newServer(t testing.TB, opts *ratatoskrhttp.Options, register func(h *ratatoskrhttp.Handler)) *server {
	t.Helper()
	a, err := auth.NewJWT(auth.WithHMACSecret(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	var o ratatoskrhttp.Options
	if opts != nil {
		o = *opts
	}
	o.Authenticator = a
	rec := &recorder{}
	o.Logger = slog.New(rec)
	h := ratatoskrhttp.New(&o)
	h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: r.Payload, Metadata: r.Metadata}, nil
	})
	if register != nil {
		register(h)
	}
	srv := httptest.NewUnstartedServer(h)
	tr := &tracker{Listener: srv.Listener}
	srv.Listener = tr
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	return &server{h: h, url: "ws" + strings.TrimPrefix(srv.URL, "http"), conns: tr, log: rec}
}

// tracker remembers the connections a listener accepts.
type tracker struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *tracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// cut closes every accepted connection at the TCP level.
func (l *tracker) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
}

// recorder is a slog.Handler that counts the server's per-request lines by
// message type.
type recorder struct {
	mu    sync.Mutex
	types map[string]int
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "ratatoskr.request" {
		return nil
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "type" {
			r.mu.Lock()
			if r.types == nil {
				r.types = make(map[string]int)
			}
			r.types[a.Value.String()]++
			r.mu.Unlock()
			return false
		}
		return true
	})
	return nil
}

// count returns how many requests of type typ (e.g. "HEARTBEAT") the server
// logged.
func (r *recorder) count(typ string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.types[typ]
}

// device is a test device: a key pair and its identity.
type device struct {
	t        testing.TB
	user, id string
	pub      ed25519.PublicKey
	key      ed25519.PrivateKey
}

func newDevice(t testing.TB, user, id string) *device {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &device{t: t, user: user, id: id, pub: pub, key: key}
}

// token mints a device token valid for ttl.
func (d *device) token(ttl time.Duration) string {
	d.t.Helper()
	tok, err := auth.MintHS256(testSecret, auth.MintOptions{UserID: d.user, DeviceID: d.id, DevicePublicKey: d.pub, TTL: ttl})
	if err != nil {
		d.t.Fatal(err)
	}
	return tok
}

func (d *device) options() *client.Options {
	return &client.Options{DeviceID: d.id, UserID: d.user, PrivateKey: d.key, Token: d.token(time.Hour)}
}

// dial connects with o and closes the client when the test ends.
func dial(t testing.TB, s *server, o *client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.url, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// within fails the test when f does not return within d.
func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mint returns a token for d valid for ttl from now().
func mint(d *device, ttl time.Duration, now func() time.Time) (string, error) {
	return auth.MintHS256(testSecret, auth.MintOptions{UserID: d.user, DeviceID: d.id, DevicePublicKey: d.pub, TTL: ttl, Now: now})
}

// fakeServer accepts the handshake of any device (unless mute, then it never
// answers) and then ignores every request: a server that hangs.
type fakeServer struct {
	url string
	wg  sync.WaitGroup
}

func newFakeServer(t testing.TB, mute bool) *fakeServer {
	t.Helper()
	f := &fakeServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.wg.Add(1)
		defer f.wg.Done()
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{client.Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		_, data, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if !mute {
			var req pb.RatatoskrRequest
			if err := proto.Unmarshal(data, &req); err != nil {
				return
			}
			resp := envelope.ConnectionAccepted(req.GetRequestId(), "fake", time.Now().Add(time.Hour), "fake/1", time.Now())
			b, _ := envelope.Marshal(resp)
			if err := ws.Write(ctx, websocket.MessageBinary, b); err != nil {
				return
			}
		}
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		srv.Close()
		f.wg.Wait()
	})
	f.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return f
}

func (f *fakeServer) server() *server { return &server{url: f.url} }
