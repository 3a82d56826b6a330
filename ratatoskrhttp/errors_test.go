package ratatoskrhttp_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/nonce"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// Handshake refusals: a CONNECTION_RESPONSE with accepted=false and the
// code, then close 1008.
func TestHandshakeRefusals(t *testing.T) {
	cases := []struct {
		name string
		req  func(d *device) *pb.RatatoskrRequest
		code envelope.Code
	}{
		{"garbage token", func(d *device) *pb.RatatoskrRequest { return d.connectionRequest("not.a.jwt") }, envelope.CodeAuthFailed},
		{"expired token", func(d *device) *pb.RatatoskrRequest { return d.connectionRequest(d.mint(-time.Minute)) }, envelope.CodeAuthFailed},
		{"token of another issuer key", func(d *device) *pb.RatatoskrRequest {
			tok, _ := auth.MintHS256([]byte("another-secret-of-at-least-32-bytes"), auth.MintOptions{UserID: "alice", DeviceID: "phone-1", DevicePublicKey: d.pub})
			return d.connectionRequest(tok)
		}, envelope.CodeAuthFailed},
		{"envelope names another device", func(d *device) *pb.RatatoskrRequest {
			other := newDevice(d.t, "alice", "phone-2")
			other.pub = d.pub
			tok := other.mint(time.Hour) // a valid token for phone-2 with this key
			req := d.connectionRequest(tok)
			return req // envelope says phone-1, token says phone-2
		}, envelope.CodeIdentityMismatch},
		{"envelope names another user", func(d *device) *pb.RatatoskrRequest {
			req := d.connectionRequest(d.token)
			req.UserId = "mallory"
			return d.resign(req)
		}, envelope.CodeIdentityMismatch},
		{"signed by another key", func(d *device) *pb.RatatoskrRequest {
			req := d.connectionRequest(d.token)
			req.Payload = append(req.Payload, 0x1a, 0x01, '1') // re-states version: still valid protobuf
			return req
		}, envelope.CodeSignatureInvalid},
		{"stale timestamp", func(d *device) *pb.RatatoskrRequest {
			req := d.connectionRequest(d.token)
			req.Timestamp -= 600
			return d.resign(req)
		}, envelope.CodeTimestampInvalid},
		{"future timestamp", func(d *device) *pb.RatatoskrRequest {
			req := d.connectionRequest(d.token)
			req.Timestamp += 60
			return d.resign(req)
		}, envelope.CodeTimestampInvalid},
		{"payload not a ConnectionRequestPayload", func(d *device) *pb.RatatoskrRequest {
			req := d.connectionRequest(d.token)
			req.Payload = []byte{0xff, 0xff}
			return d.resign(req)
		}, envelope.CodeMalformed},
		{"no token", func(d *device) *pb.RatatoskrRequest { return d.connectionRequest("") }, envelope.CodeSchemaInvalid},
		{"short nonce", func(d *device) *pb.RatatoskrRequest {
			req := d.connectionRequest(d.token)
			req.Nonce = req.Nonce[:4]
			return d.resign(req)
		}, envelope.CodeNonceInvalid},
		{"unsupported version", func(d *device) *pb.RatatoskrRequest {
			req := d.connectionRequest(d.token)
			p, _ := proto.Marshal(&pb.ConnectionRequestPayload{DeviceIdentity: "phone-1", AuthenticationToken: d.token, Version: "9"})
			req.Payload = p
			return d.resign(req)
		}, envelope.CodeConnectionRejected},
	}
	hs := newHarness(t, nil, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newDevice(t, "alice", "phone-1").dial(hs)
			resp := d.expectCode(tc.req(d), tc.code)
			p, err := envelope.ConnectionResult(resp)
			if err != nil || p.Accepted {
				t.Fatalf("refusal payload %v %v", p, err)
			}
			d.expectClose(websocket.StatusPolicyViolation)
		})
	}
}

func TestHandshakeReplayAcrossConnections(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1").dial(hs)
	req := d.connectionRequest(d.token)
	if resp := d.roundTrip(req); !resp.Success {
		t.Fatalf("first: %v", resp)
	}
	e := &device{t: t, signer: d.signer, pub: d.pub, token: d.token}
	e.dial(hs)
	e.expectCode(req, envelope.CodeReplayDetected)
	e.expectClose(websocket.StatusPolicyViolation)
	d.echo()
}

func TestBusinessBeforeHandshake(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1").dial(hs)
	d.expectCode(d.business("echo", nil), envelope.CodeHandshakeRequired)
	d.expectClose(websocket.StatusPolicyViolation)
}

func TestHandshakeTimeout(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{HandshakeTimeout: 200 * time.Millisecond}, nil)
	d := newDevice(t, "alice", "phone-1").dial(hs)
	resp := d.recv()
	if resp.ErrorCode != string(envelope.CodeHandshakeRequired) || resp.MessageType != pb.MessageType_ERROR {
		t.Fatalf("timeout answer %v", resp)
	}
	d.expectClose(websocket.StatusPolicyViolation)
}

// Per-request errors after the handshake: each is answered with its code
// and request_id, and the connection keeps serving.
func TestBusinessErrorsKeepConnection(t *testing.T) {
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("pay", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			return nil, envelope.NewError("PAYMENT_DECLINED", "card declined")
		})
		h.HandleFunc("broken", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			return nil, errors.New("database password is hunter2")
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	cases := []struct {
		name string
		req  func() *pb.RatatoskrRequest
		code envelope.Code
	}{
		{"unknown type", func() *pb.RatatoskrRequest {
			r := d.business("echo", nil)
			r.MessageType = pb.MessageType_UNKNOWN
			return r
		}, envelope.CodeSchemaInvalid},
		{"long request id", func() *pb.RatatoskrRequest {
			r := d.business("echo", nil)
			r.RequestId = strings.Repeat("r", 200)
			return d.resign(r)
		}, envelope.CodeSchemaInvalid},
		{"short nonce", func() *pb.RatatoskrRequest {
			r := d.business("echo", nil)
			r.Nonce = r.Nonce[:7]
			return d.resign(r)
		}, envelope.CodeNonceInvalid},
		{"bad signature", func() *pb.RatatoskrRequest {
			r := d.business("echo", []byte("a"))
			r.Payload = []byte("b")
			return r
		}, envelope.CodeSignatureInvalid},
		{"short signature", func() *pb.RatatoskrRequest {
			r := d.business("echo", nil)
			r.Signature = r.Signature[:10]
			return r
		}, envelope.CodeSignatureInvalid},
		{"stale timestamp", func() *pb.RatatoskrRequest {
			r := d.business("echo", nil)
			r.Timestamp -= 301
			return d.resign(r)
		}, envelope.CodeTimestampInvalid},
		{"future timestamp", func() *pb.RatatoskrRequest {
			r := d.business("echo", nil)
			r.Timestamp += 31
			return d.resign(r)
		}, envelope.CodeTimestampInvalid},
		{"other device id", func() *pb.RatatoskrRequest {
			r := d.business("echo", nil)
			r.DeviceId = "phone-9"
			return d.resign(r)
		}, envelope.CodeIdentityMismatch},
		{"unknown service", func() *pb.RatatoskrRequest { return d.business("nope", nil) }, envelope.CodeUnknownService},
		{"no service", func() *pb.RatatoskrRequest {
			r := d.business("echo", nil)
			delete(r.Metadata, "service")
			return r
		}, envelope.CodeUnknownService},
		{"service code", func() *pb.RatatoskrRequest { return d.business("pay", nil) }, "PAYMENT_DECLINED"},
		{"service internal error", func() *pb.RatatoskrRequest { return d.business("broken", nil) }, envelope.CodeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := d.expectCode(tc.req(), tc.code)
			if strings.Contains(resp.ErrorMessage, "hunter2") {
				t.Fatal("internal error text leaked")
			}
			d.echo()
		})
	}
}

func TestReplay(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	req := d.business("echo", []byte("pay once"))
	if resp := d.roundTrip(req); !resp.Success {
		t.Fatal(resp)
	}
	t.Run("same connection", func(t *testing.T) {
		d.expectCode(req, envelope.CodeReplayDetected)
		d.echo()
	})
	t.Run("second connection", func(t *testing.T) {
		e := &device{t: t, signer: d.signer, pub: d.pub, token: d.token}
		e.connect(hs)
		e.expectCode(req, envelope.CodeReplayDetected)
		e.echo()
	})
	t.Run("heartbeat", func(t *testing.T) {
		hb, _ := d.signer.Heartbeat()
		d.roundTrip(hb)
		d.expectCode(hb, envelope.CodeReplayDetected)
	})
}

func TestGarbageAndOversizedFrames(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{Validation: &envelope.ValidatorOptions{MaxMessageSize: 4096}}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)

	d.sendRaw(websocket.MessageBinary, []byte{0xff, 0xff, 0xff, 0xff})
	resp := d.recv()
	if resp.ErrorCode != string(envelope.CodeMalformed) || resp.MessageType != pb.MessageType_ERROR {
		t.Fatalf("garbage: %v", resp)
	}
	d.echo()

	// A frame that fails to decode still gets its request_id back when the
	// field can be read.
	b, _ := proto.Marshal(&pb.RatatoskrRequest{RequestId: "req-garbled"})
	b = append(b, 0xff)
	d.sendRaw(websocket.MessageBinary, b)
	if resp := d.recv(); resp.ErrorCode != string(envelope.CodeMalformed) || resp.RequestId != "req-garbled" {
		t.Fatalf("garbled: %v", resp)
	}

	big := d.business("echo", bytes.Repeat([]byte("x"), 8192))
	b, _ = proto.Marshal(big)
	d.sendRaw(websocket.MessageBinary, b)
	resp = d.recv()
	if resp.ErrorCode != string(envelope.CodePayloadTooLarge) || resp.RequestId != big.RequestId {
		t.Fatalf("oversized: %v", resp)
	}
	d.echo()

	// Past four times the limit the connection is closed with 1009.
	d.sendRaw(websocket.MessageBinary, make([]byte, 5*4096))
	d.expectClose(websocket.StatusMessageTooBig)
}

func TestTextFrameCloses(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	d.sendRaw(websocket.MessageText, []byte(`{"hello":"json"}`))
	if resp := d.recv(); resp.ErrorCode != string(envelope.CodeMalformed) {
		t.Fatalf("text: %v", resp)
	}
	d.expectClose(websocket.StatusUnsupportedData)
}

func TestRepeatedAbuseCloses(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{MaxProtocolErrors: 3}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	for range 3 {
		d.sendRaw(websocket.MessageBinary, []byte{0xff})
	}
	for range 3 {
		if resp := d.recv(); resp.ErrorCode != string(envelope.CodeMalformed) {
			t.Fatalf("abuse: %v", resp)
		}
	}
	d.expectClose(websocket.StatusPolicyViolation)
}

func TestRateLimited(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{RequestRate: 1, RequestBurst: 2}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	d.echo()
	d.echo()
	d.expectCode(d.business("echo", nil), envelope.CodeRateLimited)
}

func TestInFlightBound(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	hs := newHarness(t, &ratatoskrhttp.Options{MaxInFlight: 1}, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			started <- struct{}{}
			<-release
			return &ratatoskrhttp.Response{Payload: []byte("done")}, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	slow := d.business("slow", nil)
	d.send(slow)
	<-started
	d.expectCode(d.business("echo", nil), envelope.CodeRateLimited)
	hb, _ := d.signer.Heartbeat() // the connection is still read
	if resp := d.roundTrip(hb); !resp.Success {
		t.Fatal(resp)
	}
	close(release)
	if resp := d.recv(); !resp.Success || resp.RequestId != slow.RequestId {
		t.Fatalf("slow: %v", resp)
	}
	d.echo()
}

func TestNonceStoreUnavailable(t *testing.T) {
	store := nonce.NewMemory(&nonce.MemoryOptions{Capacity: 1, Shards: 1})
	hs := newHarness(t, &ratatoskrhttp.Options{Validation: &envelope.ValidatorOptions{Nonces: store}}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs) // fills the store
	resp := d.expectCode(d.business("echo", nil), envelope.CodeUnavailable)
	if resp.ErrorMessage == "" {
		t.Fatal("no message")
	}
	hb, _ := d.signer.Heartbeat()
	d.expectCode(hb, envelope.CodeUnavailable)
}

// A device-key source that is down refuses the handshake with UNAVAILABLE,
// not AUTH_FAILED: the device is not at fault and may retry.
func TestAuthUnavailable(t *testing.T) {
	resolver := auth.DeviceKeyResolverFunc(func(ctx context.Context, user, dev string) (ed25519.PublicKey, error) {
		return nil, fmt.Errorf("device registry: %w", auth.ErrUnavailable)
	})
	a, err := auth.NewJWT(auth.WithHMACSecret(testSecret), auth.WithDeviceKeyResolver(resolver))
	if err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, &ratatoskrhttp.Options{Authenticator: a}, nil)
	d := newDevice(t, "alice", "phone-1").dial(hs)
	d.expectCode(d.connectionRequest(d.token), envelope.CodeUnavailable)
	d.expectClose(websocket.StatusPolicyViolation)
}

func TestRecoverer(t *testing.T) {
	var panicked any
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.With(ratatoskrhttp.Recoverer(func(ctx context.Context, r *ratatoskrhttp.Request, v any, stack []byte) { panicked = v })).
			HandleFunc("boom", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
				panic("kaboom")
			})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	resp := d.expectCode(d.business("boom", nil), envelope.CodeInternal)
	if strings.Contains(resp.ErrorMessage, "kaboom") || panicked != "kaboom" {
		t.Fatalf("panic leaked or not reported: %q %v", resp.ErrorMessage, panicked)
	}
	d.echo()
}
