package tracing_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
	"github.com/ratatoskr-proto/ratatoskr/tracing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testSecret = []byte("test-secret-of-at-least-32-bytes!!")

const (
	traceID    = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentSpan = "00f067aa0ba902b7"
	traceparnt = "00-" + traceID + "-" + parentSpan + "-01"
)

// server is a Handler traced into an in-memory exporter, served by
// httptest, with services echo, spy (which records the span its context
// carries), pay (an application error) and broken (a plain error).
type server struct {
	t    testing.TB
	h    *ratatoskrhttp.Handler
	srv  *httptest.Server
	url  string
	exp  *tracetest.InMemoryExporter
	seen chan trace.SpanContext // spy's contexts
}

func newServer(t testing.TB, tracingOpts *tracing.Options) *server {
	t.Helper()
	a, err := auth.NewJWT(auth.WithHMACSecret(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	var o tracing.Options
	if tracingOpts != nil {
		o = *tracingOpts
	}
	o.TracerProvider = tp
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: a, Observer: tracing.New(&o)})
	s := &server{t: t, h: h, exp: exp, seen: make(chan trace.SpanContext, 16)}
	h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: r.Payload}, nil
	})
	h.HandleFunc("spy", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		s.seen <- trace.SpanFromContext(ctx).SpanContext()
		return &ratatoskrhttp.Response{}, nil
	})
	h.HandleFunc("pay", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return nil, envelope.NewError("PAYMENT_DECLINED", "card declined")
	})
	h.HandleFunc("broken", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return nil, errors.New("database on fire")
	})
	s.srv = httptest.NewServer(h)
	s.url = "ws" + strings.TrimPrefix(s.srv.URL, "http")
	t.Cleanup(func() {
		s.stop()
		tp.Shutdown(context.Background())
	})
	return s
}

// stop shuts the handler down, which waits for its connections, so that
// every event has been observed. It may be called twice.
func (s *server) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.h.Shutdown(ctx)
	s.srv.Close()
}

// spans waits until n spans named name have ended (the handler may answer
// before it tells the observer), and returns them.
func (s *server) spans(name string, n int) []tracetest.SpanStub {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got []tracetest.SpanStub
		for _, sp := range s.exp.GetSpans() {
			if sp.Name == name {
				got = append(got, sp)
			}
		}
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				s.t.Fatalf("%d spans named %q, want %d; all spans: %v", len(got), name, n, names(s.exp.GetSpans()))
			}
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// creds is a device's identity, key and token.
type creds struct {
	user, device string
	pub          ed25519.PublicKey
	key          ed25519.PrivateKey
	token        string
}

func newCreds(t testing.TB, user, device string) creds {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.MintHS256(testSecret, auth.MintOptions{UserID: user, DeviceID: device, DevicePublicKey: pub, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return creds{user: user, device: device, pub: pub, key: key, token: tok}
}

// dial connects a client.Client (signature v2) as c.
func (s *server) dial(c creds) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, s.url, &client.Options{UserID: c.user, DeviceID: c.device, PrivateKey: c.key, Token: c.token})
	if err == nil {
		s.t.Cleanup(func() { cl.Close() })
	}
	return cl, err
}

func (s *server) mustDial(c creds) *client.Client {
	s.t.Helper()
	cl, err := s.dial(c)
	if err != nil {
		s.t.Fatal(err)
	}
	return cl
}

func ctx5s(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// attrs returns a span's attributes by key.
func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// wantAttrs checks that the span has the attributes in want (values
// compared as their Emit form) and none of the keys in absent.
func wantAttrs(t testing.TB, sp tracetest.SpanStub, want map[attribute.Key]any, absent ...attribute.Key) {
	t.Helper()
	got := attrs(sp.Attributes)
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("span %q: no attribute %s (want %v); has %v", sp.Name, k, v, sp.Attributes)
			continue
		}
		if g.Emit() != fmt.Sprint(v) {
			t.Errorf("span %q: %s = %s, want %v", sp.Name, k, g.Emit(), v)
		}
	}
	for _, k := range absent {
		if v, ok := got[k]; ok {
			t.Errorf("span %q: unexpected %s = %s", sp.Name, k, v.Emit())
		}
	}
}

func TestRequestSpan(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	alice := newCreds(t, "alice", "phone-1")
	c := s.mustDial(alice)
	resp, err := c.Call(ctx5s(t), "echo", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	sessionID := c.Session().ID
	c.Close()
	s.stop()

	sp := s.spans("ratatoskr echo", 1)[0]
	if sp.SpanKind != trace.SpanKindServer {
		t.Errorf("kind %v, want server", sp.SpanKind)
	}
	if sp.Status.Code != codes.Unset {
		t.Errorf("status %v %q, want Unset", sp.Status.Code, sp.Status.Description)
	}
	if sp.Parent.IsValid() {
		t.Errorf("parent %v, want a root span", sp.Parent)
	}
	if sp.InstrumentationScope.Name != tracing.ScopeName || !strings.HasPrefix(sp.InstrumentationScope.SchemaURL, "https://opentelemetry.io/schemas/") {
		t.Errorf("scope %+v", sp.InstrumentationScope)
	}
	if !sp.EndTime.After(sp.StartTime) {
		t.Errorf("span from %v to %v", sp.StartTime, sp.EndTime)
	}
	wantAttrs(t, sp, map[attribute.Key]any{
		"rpc.system.name":          "ratatoskr",
		"rpc.method":               "echo",
		"rpc.response.status_code": "OK",
		"enduser.id":               "alice",
		tracing.DeviceIDKey:        "phone-1",
		tracing.SessionIDKey:       sessionID,
		tracing.RequestIDKey:       resp.RequestID,
		tracing.ResponseSizeKey:    5,
		"network.peer.address":     "127.0.0.1",
	}, "error.type", "rpc.method_original")
	a := attrs(sp.Attributes)
	if a[tracing.RequestSizeKey].AsInt64() < int64(len("hello")) {
		t.Errorf("request size %d", a[tracing.RequestSizeKey].AsInt64())
	}
	if a["network.peer.port"].AsInt64() <= 0 {
		t.Errorf("network.peer.port %s", a["network.peer.port"].Emit())
	}
}

func TestServiceSeesSpan(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	c := s.mustDial(newCreds(t, "alice", "phone-1"))
	if _, err := c.Call(ctx5s(t), "spy", nil); err != nil {
		t.Fatal(err)
	}
	seen := <-s.seen
	sp := s.spans("ratatoskr spy", 1)[0]
	if !seen.IsValid() || !seen.Equal(sp.SpanContext) {
		t.Fatalf("service saw %v, the request's span is %v", seen, sp.SpanContext)
	}
}

// rawV1 speaks signature v1 by hand over a raw WebSocket: under v1 the
// metadata is not signed, but it is still read.
type rawV1 struct {
	t      testing.TB
	ws     *websocket.Conn
	signer *envelope.Signer
}

func dialV1(t testing.TB, s *server, c creds) *rawV1 {
	t.Helper()
	ws, _, err := websocket.Dial(ctx5s(t), s.url, &websocket.DialOptions{Subprotocols: []string{ratatoskrhttp.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	d := &rawV1{t: t, ws: ws, signer: &envelope.Signer{UserID: c.user, DeviceID: c.device, Key: c.key, Scheme: envelope.SchemeV1}}
	req, err := d.signer.ConnectionRequest(c.token)
	if err != nil {
		t.Fatal(err)
	}
	if resp := d.roundTrip(req); !resp.Success {
		t.Fatalf("v1 handshake refused: %s %s", resp.ErrorCode, resp.ErrorMessage)
	}
	return d
}

func (d *rawV1) roundTrip(req *pb.RatatoskrRequest) *pb.RatatoskrResponse {
	d.t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		d.t.Fatal(err)
	}
	ctx := ctx5s(d.t)
	if err := d.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		d.t.Fatal(err)
	}
	_, b, err = d.ws.Read(ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	var resp pb.RatatoskrResponse
	if err := proto.Unmarshal(b, &resp); err != nil {
		d.t.Fatal(err)
	}
	return &resp
}

func TestTraceparent(t *testing.T) {
	t.Parallel()
	md := map[string]string{"traceparent": traceparnt, "tracestate": "vendor=x"}
	check := func(t *testing.T, s *server) {
		t.Helper()
		sp := s.spans("ratatoskr echo", 1)[0]
		if got := sp.SpanContext.TraceID().String(); got != traceID {
			t.Errorf("trace id %s, want %s", got, traceID)
		}
		if got := sp.Parent.SpanID().String(); got != parentSpan || !sp.Parent.IsRemote() {
			t.Errorf("parent %s (remote %v), want remote %s", got, sp.Parent.IsRemote(), parentSpan)
		}
		if got := sp.SpanContext.TraceState().Get("vendor"); got != "x" {
			t.Errorf("tracestate vendor=%q, want x", got)
		}
		if !sp.SpanContext.IsSampled() {
			t.Error("span not sampled, though its parent is")
		}
	}
	t.Run("v2", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, nil)
		c := s.mustDial(newCreds(t, "alice", "phone-1"))
		if c.Scheme() != envelope.SchemeV2 {
			t.Fatalf("client signs with %v, want v2", c.Scheme())
		}
		if _, err := c.Call(ctx5s(t), "echo", nil, client.WithMetadata(md)); err != nil {
			t.Fatal(err)
		}
		check(t, s)
	})
	t.Run("v1", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, nil)
		d := dialV1(t, s, newCreds(t, "alice", "phone-1"))
		req, err := d.signer.Business("echo", nil, md)
		if err != nil {
			t.Fatal(err)
		}
		if resp := d.roundTrip(req); !resp.Success {
			t.Fatalf("refused: %s %s", resp.ErrorCode, resp.ErrorMessage)
		}
		check(t, s)
	})
	t.Run("invalid", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, nil)
		c := s.mustDial(newCreds(t, "alice", "phone-1"))
		if _, err := c.Call(ctx5s(t), "echo", nil, client.WithMetadata(map[string]string{"traceparent": "00-zz-yy-01"})); err != nil {
			t.Fatal(err)
		}
		if sp := s.spans("ratatoskr echo", 1)[0]; sp.Parent.IsValid() {
			t.Errorf("parent %v from an invalid traceparent", sp.Parent)
		}
	})
	t.Run("ignored", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, &tracing.Options{Propagator: propagation.NewCompositeTextMapPropagator()})
		c := s.mustDial(newCreds(t, "alice", "phone-1"))
		if _, err := c.Call(ctx5s(t), "echo", nil, client.WithMetadata(md)); err != nil {
			t.Fatal(err)
		}
		if sp := s.spans("ratatoskr echo", 1)[0]; sp.Parent.IsValid() || sp.SpanContext.TraceID().String() == traceID {
			t.Errorf("parent %v, trace %v: the propagator should read nothing", sp.Parent, sp.SpanContext.TraceID())
		}
	})
}

func TestRefusedRequest(t *testing.T) {
	t.Parallel()
	forge := func(t *testing.T, c *client.Client, key ed25519.PrivateKey) (*pb.RatatoskrResponse, error) {
		signer := &envelope.Signer{UserID: "alice", DeviceID: "phone-1", Key: key, Scheme: c.Scheme()}
		req, err := signer.Business("echo", []byte("genuine"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Payload = []byte("forged")
		return c.Send(ctx5s(t), req)
	}
	for _, tc := range []struct {
		name     string
		send     func(t *testing.T, c *client.Client, key ed25519.PrivateKey) (*pb.RatatoskrResponse, error)
		span     string // the span's name at its end
		method   string // rpc.method
		original string // rpc.method_original, "" when absent
		code     string
		status   codes.Code
	}{
		{
			name: "unknown service",
			send: func(t *testing.T, c *client.Client, _ ed25519.PrivateKey) (*pb.RatatoskrResponse, error) {
				_, err := c.Call(ctx5s(t), "nope", nil)
				return nil, err
			},
			span: "ratatoskr _OTHER", method: "_OTHER", original: "nope", code: "UNKNOWN_SERVICE", status: codes.Error,
		},
		{
			name: "forged signature", send: forge,
			span: "ratatoskr _OTHER", method: "_OTHER", original: "echo", code: "SIGNATURE_INVALID", status: codes.Error,
		},
		{
			name: "service error",
			send: func(t *testing.T, c *client.Client, _ ed25519.PrivateKey) (*pb.RatatoskrResponse, error) {
				_, err := c.Call(ctx5s(t), "broken", nil)
				return nil, err
			},
			span: "ratatoskr broken", method: "broken", code: "INTERNAL", status: codes.Error,
		},
		{
			name: "application code",
			send: func(t *testing.T, c *client.Client, _ ed25519.PrivateKey) (*pb.RatatoskrResponse, error) {
				_, err := c.Call(ctx5s(t), "pay", nil)
				return nil, err
			},
			span: "ratatoskr pay", method: "pay", code: "PAYMENT_DECLINED", status: codes.Unset,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, nil)
			alice := newCreds(t, "alice", "phone-1")
			c := s.mustDial(alice)
			resp, err := tc.send(t, c, alice.key)
			var got string
			if resp != nil {
				got = resp.ErrorCode
			} else {
				got = string(envelope.CodeOf(err))
			}
			if got != tc.code {
				t.Fatalf("answer %q (%v), want %s", got, err, tc.code)
			}
			sp := s.spans(tc.span, 1)[0]
			want := map[attribute.Key]any{
				"rpc.method":               tc.method,
				"rpc.response.status_code": tc.code,
				"error.type":               tc.code,
			}
			var absent []attribute.Key
			if tc.original != "" {
				want["rpc.method_original"] = tc.original
			} else {
				absent = append(absent, "rpc.method_original")
			}
			wantAttrs(t, sp, want, absent...)
			if sp.Status.Code != tc.status {
				t.Errorf("status %v %q, want %v", sp.Status.Code, sp.Status.Description, tc.status)
			}
			if tc.status == codes.Error && (sp.Status.Description == "" || strings.Contains(sp.Status.Description, "fire")) {
				t.Errorf("status description %q: want the device's message, never the cause", sp.Status.Description)
			}
		})
	}
}

func TestHeartbeatMakesNoSpan(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	c := s.mustDial(newCreds(t, "alice", "phone-1"))
	if err := c.Heartbeat(ctx5s(t)); err != nil {
		t.Fatal(err)
	}
	c.Close() // a DISCONNECT
	s.stop()
	s.spans("ratatoskr handshake", 1)
	if all := s.exp.GetSpans(); len(all) != 1 {
		t.Fatalf("spans %v, want the handshake's alone", names(all))
	}
}

func TestHandshakeSpan(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	c := s.mustDial(newCreds(t, "alice", "phone-1"))
	if err := c.Renew(ctx5s(t), ""); err != nil {
		t.Fatal(err)
	}
	sessionID := c.Session().ID
	spans := s.spans("ratatoskr handshake", 2)
	for i, sp := range spans {
		renewal := i == 1
		if sp.SpanKind != trace.SpanKindServer || sp.Status.Code != codes.Unset || sp.Parent.IsValid() {
			t.Errorf("handshake %d: kind %v, status %v, parent %v", i, sp.SpanKind, sp.Status.Code, sp.Parent)
		}
		if sp.EndTime.Before(sp.StartTime) {
			t.Errorf("handshake %d: from %v to %v", i, sp.StartTime, sp.EndTime)
		}
		wantAttrs(t, sp, map[attribute.Key]any{
			"rpc.system.name":          "ratatoskr",
			"rpc.response.status_code": "OK",
			"enduser.id":               "alice",
			tracing.DeviceIDKey:        "phone-1",
			tracing.SessionIDKey:       sessionID,
			tracing.RenewalKey:         renewal,
			tracing.SignatureSchemeKey: "v2",
			"network.peer.address":     "127.0.0.1",
		}, "error.type")
		if a := attrs(sp.Attributes); a[tracing.RequestIDKey].AsString() == "" {
			t.Errorf("handshake %d: no request id", i)
		}
	}
}

func TestRefusedHandshake(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	alice := newCreds(t, "alice", "phone-1")
	alice.token = "not.a.token"
	if _, err := s.dial(alice); envelope.CodeOf(err) != envelope.CodeAuthFailed {
		t.Fatalf("dial: %v, want AUTH_FAILED", err)
	}
	sp := s.spans("ratatoskr handshake", 1)[0]
	wantAttrs(t, sp, map[attribute.Key]any{
		"rpc.response.status_code": "AUTH_FAILED",
		"error.type":               "AUTH_FAILED",
		tracing.RenewalKey:         false,
		"enduser.id":               "alice", // as claimed
	}, tracing.SessionIDKey, tracing.SignatureSchemeKey)
	if sp.Status.Code != codes.Error {
		t.Errorf("status %v, want Error", sp.Status.Code)
	}
}

// The tests below call the Observer directly, as the handler does.

func newObserver(t testing.TB) (*tracing.Observer, *tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tracing.New(&tracing.Options{TracerProvider: tp}), exp, tp
}

func businessInfo(service string) *ratatoskrhttp.RequestInfo {
	return &ratatoskrhttp.RequestInfo{
		Type: pb.MessageType_BUSINESS_REQUEST, Service: service, RequestID: "r-1",
		UserID: "alice", DeviceID: "phone-1", SessionID: "s-1", RemoteAddr: "[::1]:4242",
		Metadata: map[string]string{"service": service}, Size: 100, Start: time.Now(),
	}
}

func TestDirect(t *testing.T) {
	t.Parallel()
	t.Run("connection span is linked, not the parent, and never ended", func(t *testing.T) {
		t.Parallel()
		o, exp, tp := newObserver(t)
		connCtx, connSpan := tp.Tracer("http").Start(context.Background(), "GET /ratatoskr")
		ctx := o.StartRequest(connCtx, businessInfo("echo"))
		if trace.SpanFromContext(ctx) == connSpan {
			t.Fatal("no request span")
		}
		// A heartbeat on the connection's context: no span, and the
		// connection's span is left alone.
		o.Request(connCtx, &ratatoskrhttp.RequestEvent{RequestInfo: ratatoskrhttp.RequestInfo{Type: pb.MessageType_HEARTBEAT}})
		o.Request(ctx, &ratatoskrhttp.RequestEvent{RequestInfo: *businessInfo("echo")})
		o.Request(ctx, &ratatoskrhttp.RequestEvent{RequestInfo: *businessInfo("echo")}) // twice: ignored by the SDK
		spans := exp.GetSpans()
		if len(spans) != 1 {
			t.Fatalf("spans %v, want the request's alone", names(spans))
		}
		sp := spans[0]
		if sp.Parent.IsValid() {
			t.Errorf("parent %v, want a root", sp.Parent)
		}
		if len(sp.Links) != 1 || !sp.Links[0].SpanContext.Equal(connSpan.SpanContext()) {
			t.Errorf("links %v, want the connection's span", sp.Links)
		}
		wantAttrs(t, sp, map[attribute.Key]any{"network.peer.address": "::1", "network.peer.port": 4242})
		connSpan.End()
	})
	t.Run("long service name is cut", func(t *testing.T) {
		t.Parallel()
		o, exp, _ := newObserver(t)
		long := strings.Repeat("é", 100) // 200 bytes
		ctx := o.StartRequest(context.Background(), businessInfo(long))
		o.Request(ctx, &ratatoskrhttp.RequestEvent{RequestInfo: *businessInfo(long)})
		sp := exp.GetSpans()[0]
		if want := "ratatoskr " + strings.Repeat("é", 32); sp.Name != want {
			t.Errorf("name %q (%d bytes), want %q", sp.Name, len(sp.Name), want)
		}
	})
	t.Run("address without port", func(t *testing.T) {
		t.Parallel()
		o, exp, _ := newObserver(t)
		info := businessInfo("echo")
		info.RemoteAddr = "203.0.113.7"
		o.Request(o.StartRequest(context.Background(), info), &ratatoskrhttp.RequestEvent{RequestInfo: *info})
		wantAttrs(t, exp.GetSpans()[0], map[attribute.Key]any{"network.peer.address": "203.0.113.7"}, "network.peer.port")
	})
	t.Run("chained observers each end their own span", func(t *testing.T) {
		t.Parallel()
		o1, exp1, _ := newObserver(t)
		o2, exp2, _ := newObserver(t)
		obs := ratatoskrhttp.Observers(o1, o2)
		info := businessInfo("echo")
		ctx := obs.StartRequest(context.Background(), info)
		obs.Request(ctx, &ratatoskrhttp.RequestEvent{RequestInfo: *info})
		if n1, n2 := len(exp1.GetSpans()), len(exp2.GetSpans()); n1 != 1 || n2 != 1 {
			t.Fatalf("%d and %d spans, want 1 each", n1, n2)
		}
		// The second sees the first's span as the connection's: linked.
		if l := exp2.GetSpans()[0].Links; len(l) != 1 || !l[0].SpanContext.Equal(exp1.GetSpans()[0].SpanContext) {
			t.Errorf("the second observer's span links %v, want the first's span", l)
		}
	})
	t.Run("a service's own status stands", func(t *testing.T) {
		t.Parallel()
		o, exp, _ := newObserver(t)
		info := businessInfo("pay")
		ctx := o.StartRequest(context.Background(), info)
		trace.SpanFromContext(ctx).SetStatus(codes.Error, "declined three times")
		o.Request(ctx, &ratatoskrhttp.RequestEvent{RequestInfo: *info, Code: "PAYMENT_DECLINED"})
		if st := exp.GetSpans()[0].Status; st.Code != codes.Error || st.Description != "declined three times" {
			t.Errorf("status %+v", st)
		}
	})
	t.Run("noop provider", func(t *testing.T) {
		t.Parallel()
		o := tracing.New(&tracing.Options{TracerProvider: noop.NewTracerProvider()})
		info := businessInfo("echo")
		info.Metadata = map[string]string{"service": "echo", "traceparent": traceparnt}
		ctx := o.StartRequest(context.Background(), info)
		// The device's trace context still reaches the service, for its
		// own outgoing calls.
		if got := trace.SpanContextFromContext(ctx).TraceID().String(); got != traceID {
			t.Errorf("trace id %q in the service's context, want %s", got, traceID)
		}
		o.Request(ctx, &ratatoskrhttp.RequestEvent{RequestInfo: *info})
		o.Handshake(ratatoskrhttp.HandshakeEvent{Latency: time.Millisecond})
	})
	t.Run("nil options", func(t *testing.T) {
		t.Parallel()
		o := tracing.New(nil) // the global provider: a no-op unless set
		o.Request(o.StartRequest(context.Background(), businessInfo("echo")), &ratatoskrhttp.RequestEvent{})
	})
	t.Run("handshake timing", func(t *testing.T) {
		t.Parallel()
		o, exp, _ := newObserver(t)
		before := time.Now()
		o.Handshake(ratatoskrhttp.HandshakeEvent{Latency: 250 * time.Millisecond, UserID: "alice", Code: envelope.CodeSignatureInvalid,
			Err: envelope.NewError(envelope.CodeSignatureInvalid, "signature does not verify")})
		sp := exp.GetSpans()[0]
		if d := sp.EndTime.Sub(sp.StartTime); d != 250*time.Millisecond {
			t.Errorf("duration %v, want the latency", d)
		}
		if sp.EndTime.Before(before) || sp.EndTime.After(time.Now()) {
			t.Errorf("ended at %v, not now", sp.EndTime)
		}
		if sp.Status.Code != codes.Error || sp.Status.Description != "signature does not verify" {
			t.Errorf("status %+v", sp.Status)
		}
	})
}

// TestConcurrent runs requests on many goroutines under -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	o, exp, _ := newObserver(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				info := businessInfo(fmt.Sprint("svc-", i))
				info.RequestID = fmt.Sprint(i, "-", j)
				o.Request(o.StartRequest(context.Background(), info), &ratatoskrhttp.RequestEvent{RequestInfo: *info})
				o.Handshake(ratatoskrhttp.HandshakeEvent{Latency: time.Millisecond})
			}
		})
	}
	wg.Wait()
	if n := len(exp.GetSpans()); n != 8*50*2 {
		t.Fatalf("%d spans, want %d", n, 8*50*2)
	}
}
