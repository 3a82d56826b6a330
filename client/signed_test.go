package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// mitm is a WebSocket proxy between a client and a server, as an attacker
// on the path (a TLS-terminating proxy) would run it: it relays frames and
// lets the test rewrite or inject what the server sends.
type mitm struct {
	url string
	// rewrite, when set, may change each response on its way to the
	// client; it runs on the relay goroutine.
	rewrite func(resp *pb.RatatoskrResponse)

	mu     sync.Mutex
	toDev  func(b []byte) error // writes a frame to the client
	closed bool
}

func newMITM(t *testing.T, upstream string) *mitm {
	m := &mitm{}
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.Background()
		offered := strings.Split(strings.ReplaceAll(r.Header.Get("Sec-WebSocket-Protocol"), " ", ""), ",")
		up, _, err := websocket.Dial(ctx, upstream, &websocket.DialOptions{Subprotocols: offered})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.CloseNow()
		down, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{up.Subprotocol()}})
		if err != nil {
			return
		}
		defer down.CloseNow()
		m.mu.Lock()
		m.toDev = func(b []byte) error { return down.Write(ctx, websocket.MessageBinary, b) }
		m.mu.Unlock()
		wg.Go(func() { // device → server, as is; ends when either side goes
			for {
				typ, b, err := down.Read(ctx)
				if err != nil || up.Write(ctx, typ, b) != nil {
					up.CloseNow()
					return
				}
			}
		})
		for { // server → device, rewritten
			typ, b, err := up.Read(ctx)
			if err != nil {
				down.CloseNow()
				return
			}
			if m.rewrite != nil {
				var resp pb.RatatoskrResponse
				if proto.Unmarshal(b, &resp) == nil {
					m.rewrite(&resp)
					b, _ = proto.Marshal(&resp)
				}
			}
			m.mu.Lock()
			err = down.Write(ctx, typ, b)
			m.mu.Unlock()
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close(); wg.Wait() })
	m.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	return m
}

// inject sends resp to the client as if the server had.
func (m *mitm) inject(t *testing.T, resp *pb.RatatoskrResponse) {
	b, _ := proto.Marshal(resp)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.toDev(b); err != nil {
		t.Fatal(err)
	}
}

func serverKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key
}

func dialURL(t *testing.T, url string, o *client.Options) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, o)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func wantForged(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, client.ErrResponseSignature) || envelope.CodeOf(err) != envelope.CodeSignatureInvalid {
		t.Fatalf("err = %v (code %q), want ErrResponseSignature with SIGNATURE_INVALID", err, envelope.CodeOf(err))
	}
}

// A client that knows the server's key gets every answer verified,
// through an honest proxy too, and the server's own DISCONNECT is believed.
func TestSignedResponses(t *testing.T) {
	pub, key := serverKey(t)
	s := newServer(t, &ratatoskrhttp.Options{ResponseKey: key}, nil)
	d := newDevice(t, "alice", "phone-1")
	o := d.options()
	o.ServerKeys = []ed25519.PublicKey{pub}
	c, err := dialURL(t, newMITM(t, s.url).url, o)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		resp, err := c.Call(context.Background(), "echo", []byte("signed"))
		if err != nil || !bytes.Equal(resp.Payload, []byte("signed")) {
			t.Fatalf("Call: %v %v", resp, err)
		}
	}
	if err := c.Heartbeat(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Renew(context.Background(), d.token(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A refusal is signed too, and comes back as the server's code.
	if _, err := c.Call(context.Background(), "missing", nil); envelope.CodeOf(err) != envelope.CodeUnknownService {
		t.Fatalf("unknown service: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.h.Shutdown(ctx)
	<-c.Done()
	if envelope.CodeOf(c.Err()) != envelope.CodeServerShutdown {
		t.Fatalf("Err() = %v, want the signed SERVER_SHUTDOWN", c.Err())
	}
}

// An answer altered, stripped of its signature, or taken from another
// request fails the call; the connection stays usable.
func TestForgedResponsesRejected(t *testing.T) {
	pub, key := serverKey(t)
	s := newServer(t, &ratatoskrhttp.Options{ResponseKey: key}, nil)
	m := newMITM(t, s.url)
	d := newDevice(t, "alice", "phone-1")
	o := d.options()
	o.ServerKeys = []ed25519.PublicKey{pub}
	c, err := dialURL(t, m.url, o)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		captured *pb.RatatoskrResponse
		attack   func(*pb.RatatoskrResponse)
	)
	m.rewrite = func(r *pb.RatatoskrResponse) {
		mu.Lock()
		defer mu.Unlock()
		if captured == nil && r.GetMessageType() == pb.MessageType_BUSINESS_REQUEST {
			captured = proto.Clone(r).(*pb.RatatoskrResponse)
		}
		if attack != nil {
			attack(r)
		}
	}
	if _, err := c.Call(context.Background(), "echo", []byte("pay 10 to bob")); err != nil {
		t.Fatal(err)
	}
	attacks := map[string]func(r *pb.RatatoskrResponse){
		"payload altered":  func(r *pb.RatatoskrResponse) { r.Payload = []byte("pay 10 to mallory") },
		"failure injected": func(r *pb.RatatoskrResponse) { r.Success, r.ErrorCode = false, "PAYMENT_DECLINED" },
		"unsigned":         func(r *pb.RatatoskrResponse) { r.Signature = nil },
		"replayed onto another request": func(r *pb.RatatoskrResponse) {
			id := r.RequestId
			proto.Reset(r)
			proto.Merge(r, captured)
			r.RequestId = id // the old answer, re-addressed: its signature binds the old request
		},
	}
	for name, a := range attacks {
		mu.Lock()
		attack = a
		mu.Unlock()
		_, err := c.Call(context.Background(), "echo", []byte("pay 10 to bob"))
		if err == nil {
			t.Fatalf("%s: the call succeeded", name)
		}
		wantForged(t, err)
	}
	mu.Lock()
	attack = nil
	mu.Unlock()
	if _, err := c.Call(context.Background(), "echo", []byte("still here")); err != nil {
		t.Fatal(err)
	}
	// A DISCONNECT the attacker injects is dropped, not obeyed.
	m.inject(t, envelope.Failure(pb.MessageType_DISCONNECT, "", envelope.NewError(envelope.CodeServerShutdown, "go away"), time.Now()))
	time.Sleep(50 * time.Millisecond)
	if c.Err() != nil {
		t.Fatalf("obeyed a forged DISCONNECT: %v", c.Err())
	}
	if _, err := c.Call(context.Background(), "echo", []byte("still here")); err != nil {
		t.Fatal(err)
	}
}

// The handshake is verified: a server that does not sign, signs with an
// unknown key, or whose answer was altered is not trusted; during a
// rotation the client holds both keys.
func TestSignedHandshake(t *testing.T) {
	oldPub, _ := serverKey(t)
	newPub, newKey := serverKey(t)
	signed := newServer(t, &ratatoskrhttp.Options{ResponseKey: newKey}, nil)
	unsigned := newServer(t, nil, nil)
	d := newDevice(t, "alice", "phone-1")
	with := func(keys ...ed25519.PublicKey) *client.Options {
		o := d.options()
		o.ServerKeys = keys
		return o
	}
	if _, err := dialURL(t, signed.url, with(oldPub, newPub)); err != nil {
		t.Fatalf("rotation, both keys: %v", err)
	}
	_, err := dialURL(t, signed.url, with(oldPub))
	wantForged(t, err)
	_, err = dialURL(t, unsigned.url, with(newPub))
	wantForged(t, err)

	m := newMITM(t, signed.url)
	m.rewrite = func(r *pb.RatatoskrResponse) {
		if r.GetMessageType() == pb.MessageType_CONNECTION_RESPONSE {
			r.Metadata[envelope.MetadataMaxInFlight] = "100000"
		}
	}
	_, err = dialURL(t, m.url, with(newPub))
	wantForged(t, err)
}
