package ratatoskrhttp_test

// Attacks on the replay and forgery promises, each over a real connection:
// an attacker holding captured frames, or a token of their own.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/internal/forge"
	"github.com/ratatoskr-proto/ratatoskr/nonce"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// A captured business request re-sent with payload bytes moved into its
// nonce is a replay: the service does not run a second time.
func TestAttackResplitBusinessReplay(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("pay", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			mu.Lock()
			seen = append(seen, string(r.Payload))
			mu.Unlock()
			return &ratatoskrhttp.Response{}, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	captured := d.business("pay", []byte("amount=1000;to=bob;order=7"))
	if resp := d.roundTrip(captured); !resp.Success {
		t.Fatalf("genuine request: %s", resp.ErrorCode)
	}
	for _, k := range []int{-8, -1, 1, 8} {
		d.expectCode(forge.MoveBoundary(captured, k), envelope.CodeReplayDetected)
	}
	// Re-sent on a new connection of the same device as well.
	d2 := newDevice(t, "alice", "phone-1")
	d2.signer, d2.pub, d2.token = d.signer, d.pub, d.token
	d2.connect(hs)
	d2.expectCode(forge.MoveBoundary(captured, -8), envelope.CodeReplayDetected)
	d.echo()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 {
		t.Fatalf("the service ran %d times: %q", len(seen), seen)
	}
}

// A captured heartbeat re-sent with nonce bytes moved into its empty
// payload is a replay.
func TestAttackResplitHeartbeatReplay(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	hb, err := d.signer.Heartbeat()
	if err != nil {
		t.Fatal(err)
	}
	if resp := d.roundTrip(hb); !resp.Success {
		t.Fatalf("heartbeat: %s", resp.ErrorCode)
	}
	moved := forge.MoveBoundary(hb, 8)
	if len(moved.Payload) != 8 {
		t.Fatalf("payload %x", moved.Payload)
	}
	d.expectCode(moved, envelope.CodeReplayDetected)
	// The same signed bytes as a DISCONNECT (v1 does not sign the type).
	asDisconnect := proto.Clone(hb).(*pb.RatatoskrRequest)
	asDisconnect.MessageType = pb.MessageType_DISCONNECT
	d.expectCode(asDisconnect, envelope.CodeReplayDetected)
	d.echo()
}

// A captured CONNECTION_REQUEST, re-sent on a new connection with the
// payload's first field (device_identity) moved into the nonce, does not
// open a session as the victim device.
func TestAttackResplitHandshakeReplay(t *testing.T) {
	hs := newHarness(t, nil, nil)
	victim := newDevice(t, "alice", "phone-1").dial(hs)
	captured := victim.connectionRequest(victim.token)
	if resp := victim.roundTrip(captured); !resp.Success {
		t.Fatalf("victim handshake: %s", resp.ErrorCode)
	}
	num, typ, n := protowire.ConsumeTag(captured.Payload)
	if num != 1 || typ != protowire.BytesType || n < 0 {
		t.Fatalf("payload does not start with device_identity: %x", captured.Payload)
	}
	field := n + protowire.ConsumeFieldValue(num, typ, captured.Payload[n:])
	forged := forge.MoveBoundary(captured, -field)
	var p pb.ConnectionRequestPayload
	if err := proto.Unmarshal(forged.Payload, &p); err != nil || p.AuthenticationToken != victim.token {
		t.Fatalf("the cut payload no longer decodes, the attack is not the one reported: %v", err)
	}

	attacker := newDevice(t, "mallory", "laptop").dial(hs)
	resp := attacker.expectCode(forged, envelope.CodeReplayDetected)
	if r, err := envelope.ConnectionResult(resp); err != nil || r.Accepted {
		t.Fatalf("accepted=%v %v", r.GetAccepted(), err)
	}
	attacker.expectClose(websocket.StatusPolicyViolation)
	victim.echo()
}

// weakKeyToken is a token the issuer signed (HS256, the test secret) whose
// cnf binds the neutral element, a small-order point. auth.Mint refuses to
// make it, so it is built with golang-jwt directly.
func weakKeyToken(t *testing.T, user, dev string) string {
	t.Helper()
	neutral := forge.NeutralKey()
	claims := jwt.MapClaims{
		"sub": user, "device_id": dev,
		"exp": time.Now().Add(time.Hour).Unix(),
		"cnf": map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(neutral)}},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A token bound to a small-order key does not let its holder sign as the
// device: the handshake is refused with AUTH_FAILED, saying the key is
// unacceptable, whether the key comes from the JWT verifier or from a
// custom Authenticator that does no check of its own.
func TestAttackSmallOrderKeyForgery(t *testing.T) {
	neutral := forge.NeutralKey()
	lax := authFunc(func(ctx context.Context, token string) (*auth.Identity, error) {
		return &auth.Identity{UserID: "mallory", DeviceID: "phone-x", PublicKey: neutral, ExpiresAt: time.Now().Add(time.Hour)}, nil
	})
	for name, a := range map[string]auth.Authenticator{"jwt": nil, "custom": lax} {
		t.Run(name, func(t *testing.T) {
			hs := newHarness(t, &ratatoskrhttp.Options{Authenticator: a}, nil)
			attacker := newDevice(t, "mallory", "phone-x").dial(hs)
			req := attacker.connectionRequest(weakKeyToken(t, "mallory", "phone-x"))
			req.Signature = forge.ConstantSignature()
			d := envelope.Digest(req)
			if !ed25519.Verify(neutral, d[:], req.Signature) {
				t.Fatal("crypto/ed25519 refuses the forgery itself; this test proves nothing")
			}
			resp := attacker.expectCode(req, envelope.CodeAuthFailed)
			if !strings.Contains(resp.ErrorMessage, "unacceptable") {
				t.Fatalf("message %q does not say the key is unacceptable", resp.ErrorMessage)
			}
			attacker.expectClose(websocket.StatusPolicyViolation)
		})
	}
}

type authFunc func(ctx context.Context, token string) (*auth.Identity, error)

func (f authFunc) Authenticate(ctx context.Context, token string) (*auth.Identity, error) {
	return f(ctx, token)
}

// A frame stamped at the future edge of the skew, first accepted at any
// fraction of a second, stays a replay until the very nanosecond its
// timestamp stops being acceptable (the record used to expire a second
// earlier).
func TestAttackReplayAtTTLEdge(t *testing.T) {
	var mu sync.Mutex
	now := time.Now().Truncate(time.Second) // a whole second: the worst case
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	hs := newHarness(t, &ratatoskrhttp.Options{Validation: &envelope.ValidatorOptions{
		Now: clock, Nonces: nonce.NewMemory(&nonce.MemoryOptions{Now: clock}),
	}}, nil)
	d := newDevice(t, "alice", "phone-1")
	d.signer.Now = clock
	d.connect(hs)

	first := clock()
	o := envelope.NewValidator(nil).Options()
	req := d.business("echo", []byte("once"))
	req.Timestamp = first.Add(o.FutureSkew).Unix()
	d.resign(req)
	if resp := d.roundTrip(req); !resp.Success {
		t.Fatalf("first: %s %s", resp.ErrorCode, resp.ErrorMessage)
	}
	last := time.Unix(req.Timestamp+1, 0).Add(o.Window - 1) // the last instant the timestamp passes
	set(first.Add(o.Window + o.FutureSkew))                 // where the old record had expired
	d.expectCode(req, envelope.CodeReplayDetected)
	set(last)
	d.expectCode(req, envelope.CodeReplayDetected)
	set(last.Add(1))
	d.expectCode(req, envelope.CodeTimestampInvalid)
}

// logBuffer collects JSON log records.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		if len(line) > 4096 {
			t.Errorf("log record of %d bytes: %.200s…", len(line), line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func newLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// An unauthenticated CONNECTION_REQUEST whose version is 8 KiB (within
// the handshake's read limit) gets a refusal that quotes a few hundred
// bytes of it at most, marked as cut, and the log does not store it
// either.
func TestAttackUnboundedReflection(t *testing.T) {
	var logs logBuffer
	hs := newHarness(t, &ratatoskrhttp.Options{Logger: newLogger(&logs)}, nil)
	d := newDevice(t, "alice", "phone-1").dial(hs)
	huge := strings.Repeat("v", 8<<10)
	req := d.connectionRequest(d.token)
	req.Payload, _ = proto.Marshal(&pb.ConnectionRequestPayload{DeviceIdentity: "phone-1", AuthenticationToken: d.token, Version: huge})
	d.resign(req)
	resp := d.expectCode(req, envelope.CodeConnectionRejected)
	if n := len(resp.ErrorMessage); n > envelope.MaxMessageLen+64 {
		t.Fatalf("error message of %d bytes reflects the input", n)
	}
	if !strings.Contains(resp.ErrorMessage, "cut") {
		t.Fatalf("message %q does not say it was cut", resp.ErrorMessage)
	}
	d.expectClose(websocket.StatusPolicyViolation)

	// Long identifiers in a refused frame are cut in the log as well.
	long := newDevice(t, strings.Repeat("u", 10<<10), "phone-2").dial(hs)
	long.send(long.connectionRequest("not-a-token"))
	long.recv()
	if recs := logs.records(t); len(recs) == 0 {
		t.Fatal("nothing logged")
	}
}

// A refused handshake is logged at Warn with the remote address, the
// Origin header and the claimed user and device, and never the token.
func TestAttackAuthFailureLogged(t *testing.T) {
	var logs logBuffer
	hs := newHarness(t, &ratatoskrhttp.Options{Logger: newLogger(&logs), OriginPatterns: []string{"evil.example"}}, nil)
	d := newDevice(t, "alice", "phone-1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, hs.url, &websocket.DialOptions{HTTPHeader: map[string][]string{"Origin": {"https://evil.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	d.ws = ws
	other := newDevice(t, "alice", "phone-1") // a token for another key
	d.expectCode(d.connectionRequest(other.token), envelope.CodeSignatureInvalid)
	forged := d.mint(time.Hour) + "x"
	d2 := newDevice(t, "alice", "phone-1").dial(hs)
	d2.expectCode(d2.connectionRequest(forged), envelope.CodeAuthFailed)

	var warned int
	for _, r := range logs.records(t) {
		line, _ := json.Marshal(r)
		if strings.Contains(string(line), forged) || strings.Contains(string(line), other.token) {
			t.Fatalf("a token was logged: %s", line)
		}
		if r["msg"] != "ratatoskr.handshake" || r["level"] != "WARN" {
			continue
		}
		warned++
		if r["user_id"] != "alice" || r["device_id"] != "phone-1" || r["remote"] == "" || r["remote"] == nil {
			t.Errorf("refusal logged without who: %s", line)
		}
		if r["code"] == string(envelope.CodeSignatureInvalid) && r["origin"] != "https://evil.example" {
			t.Errorf("refusal logged without the Origin: %s", line)
		}
	}
	if warned != 2 {
		t.Fatalf("%d refusals logged at Warn, want 2", warned)
	}
}
