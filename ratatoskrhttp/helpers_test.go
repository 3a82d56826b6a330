package ratatoskrhttp_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"github.com/ratatoskr-proto/ratatoskr/internal/redistest"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// TestMain silences go-redis (the outage tests make it log every failed
// dial; the tests assert on what devices get instead) and checks for
// leaked goroutines.
func TestMain(m *testing.M) { redistest.Main(m) }

var testSecret = []byte("test-secret-of-at-least-32-bytes!!")

// harness is a Handler served by httptest with an HS256 authenticator and
// an echo service.
type harness struct {
	h   *ratatoskrhttp.Handler
	srv *httptest.Server
	url string
}

func newHarness(t testing.TB, opts *ratatoskrhttp.Options, register func(h *ratatoskrhttp.Handler)) *harness {
	t.Helper()
	a, err := auth.NewJWT(auth.WithHMACSecret(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	var o ratatoskrhttp.Options
	if opts != nil {
		o = *opts
	}
	if o.Authenticator == nil {
		o.Authenticator = a
	}
	h := ratatoskrhttp.New(&o)
	h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: r.Payload, Metadata: map[string]string{"echoed": "yes"}}, nil
	})
	if register != nil {
		register(h)
	}
	srv := httptest.NewServer(h)
	hs := &harness{h: h, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	return hs
}

// device is a test device speaking the protocol by hand over a raw
// WebSocket, so tests can send anything.
type device struct {
	t      testing.TB
	ws     *websocket.Conn
	signer *envelope.Signer
	pub    ed25519.PublicKey
	token  string
}

func newDevice(t testing.TB, user, dev string) *device {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &device{t: t, pub: pub, signer: &envelope.Signer{DeviceID: dev, UserID: user, Key: key}}
	d.token = d.mint(time.Hour)
	return d
}

// mint returns a token for the device that expires in ttl (in the past
// when ttl is negative).
func (d *device) mint(ttl time.Duration) string {
	d.t.Helper()
	now := time.Now()
	if ttl < 0 {
		now = now.Add(2 * ttl)
		ttl = -ttl
	}
	tok, err := auth.MintHS256(testSecret, auth.MintOptions{UserID: d.signer.UserID, DeviceID: d.signer.DeviceID, DevicePublicKey: d.pub, TTL: ttl,
		Now: func() time.Time { return now }})
	if err != nil {
		d.t.Fatal(err)
	}
	return tok
}

func (d *device) dial(hs *harness) *device {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, hs.url, &websocket.DialOptions{Subprotocols: []string{ratatoskrhttp.Subprotocol}})
	if err != nil {
		d.t.Fatal(err)
	}
	ws.SetReadLimit(8 << 20)
	d.ws = ws
	d.t.Cleanup(func() { ws.CloseNow() })
	return d
}

// connect dials and completes the handshake.
func (d *device) connect(hs *harness) *device {
	d.t.Helper()
	d.dial(hs)
	resp := d.roundTrip(d.connectionRequest(d.token))
	if !resp.Success {
		d.t.Fatalf("handshake refused: %s %s", resp.ErrorCode, resp.ErrorMessage)
	}
	return d
}

func (d *device) connectionRequest(token string) *pb.RatatoskrRequest {
	d.t.Helper()
	req, err := d.signer.ConnectionRequest(token)
	if err != nil {
		d.t.Fatal(err)
	}
	return req
}

func (d *device) business(service string, payload []byte) *pb.RatatoskrRequest {
	d.t.Helper()
	req, err := d.signer.Business(service, payload, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	return req
}

func (d *device) resign(req *pb.RatatoskrRequest) *pb.RatatoskrRequest {
	envelope.SignWith(req, d.signer.Key, d.signer.Scheme)
	return req
}

func (d *device) send(req *pb.RatatoskrRequest) {
	d.t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		d.t.Fatal(err)
	}
	d.sendRaw(websocket.MessageBinary, b)
}

func (d *device) sendRaw(typ websocket.MessageType, b []byte) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.ws.Write(ctx, typ, b); err != nil {
		d.t.Fatalf("write: %v", err)
	}
}

func (d *device) recv() *pb.RatatoskrResponse {
	d.t.Helper()
	resp, err := d.tryRecv(5 * time.Second)
	if err != nil {
		d.t.Fatalf("read: %v", err)
	}
	return resp
}

func (d *device) tryRecv(timeout time.Duration) (*pb.RatatoskrResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	typ, b, err := d.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageBinary {
		return nil, errors.New("server sent a text frame")
	}
	var resp pb.RatatoskrResponse
	if err := proto.Unmarshal(b, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

func (d *device) roundTrip(req *pb.RatatoskrRequest) *pb.RatatoskrResponse {
	d.t.Helper()
	d.send(req)
	resp := d.recv()
	if resp.RequestId != req.RequestId {
		d.t.Fatalf("response for %q, want %q", resp.RequestId, req.RequestId)
	}
	return resp
}

// expectCode sends req and asserts the answer fails with code.
func (d *device) expectCode(req *pb.RatatoskrRequest, code envelope.Code) *pb.RatatoskrResponse {
	d.t.Helper()
	resp := d.roundTrip(req)
	if resp.Success || resp.ErrorCode != string(code) {
		d.t.Fatalf("got success=%v code=%q (%s), want %s", resp.Success, resp.ErrorCode, resp.ErrorMessage, code)
	}
	want := req.MessageType
	switch want {
	case pb.MessageType_CONNECTION_REQUEST:
		want = pb.MessageType_CONNECTION_RESPONSE
	case pb.MessageType_BUSINESS_REQUEST, pb.MessageType_HEARTBEAT, pb.MessageType_DISCONNECT:
	default: // not a request type: answered as ERROR
		want = pb.MessageType_ERROR
	}
	if resp.MessageType != want {
		d.t.Fatalf("response type %v, want %v", resp.MessageType, want)
	}
	return resp
}

// echo asserts the connection still serves business requests.
func (d *device) echo() {
	d.t.Helper()
	req := d.business("echo", []byte("still here"))
	resp := d.roundTrip(req)
	if !resp.Success || string(resp.Payload) != "still here" || resp.MessageType != pb.MessageType_BUSINESS_REQUEST {
		d.t.Fatalf("echo: %v", resp)
	}
}

// expectClose reads until the connection closes and checks the status.
func (d *device) expectClose(status websocket.StatusCode) {
	d.t.Helper()
	for {
		_, err := d.tryRecv(5 * time.Second)
		if err == nil {
			continue
		}
		if got := websocket.CloseStatus(err); got != status {
			d.t.Fatalf("closed with %v (%v), want %v", got, err, status)
		}
		return
	}
}
