package envelope_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/nonce"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

var t0 = time.Unix(1_700_000_000, 0)

type fixture struct {
	signer *envelope.Signer
	pub    ed25519.PublicKey
	key    envelope.DeviceKey
	v      *envelope.Validator
	now    time.Time
}

func newFixture(t testing.TB, opts *envelope.ValidatorOptions) *fixture {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{pub: pub, key: mustKey(t, pub), now: t0}
	f.signer = &envelope.Signer{DeviceID: "device-1", UserID: "user-1", Key: priv, Now: func() time.Time { return f.now }}
	var o envelope.ValidatorOptions
	if opts != nil {
		o = *opts
	}
	o.Now = func() time.Time { return f.now }
	f.v = envelope.NewValidator(&o)
	return f
}

func mustKey(t testing.TB, pub ed25519.PublicKey) envelope.DeviceKey {
	t.Helper()
	k, err := envelope.NewDeviceKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (f *fixture) expect() envelope.Expect {
	return envelope.Expect{UserID: "user-1", DeviceID: "device-1", Key: f.key}
}

func (f *fixture) business(t testing.TB, payload []byte) *pb.RatatoskrRequest {
	t.Helper()
	req, err := f.signer.Business("echo", payload, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func (f *fixture) resign(req *pb.RatatoskrRequest) *pb.RatatoskrRequest {
	envelope.Sign(req, f.signer.Key)
	return req
}

func (f *fixture) check(t testing.TB, req *pb.RatatoskrRequest) error {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := f.v.Decode(b)
	if err != nil {
		return err
	}
	return f.v.Validate(context.Background(), dec, f.expect())
}

func TestValidateAccepts(t *testing.T) {
	f := newFixture(t, nil)
	for _, mk := range []func() (*pb.RatatoskrRequest, error){
		func() (*pb.RatatoskrRequest, error) { return f.signer.ConnectionRequest("tok") },
		func() (*pb.RatatoskrRequest, error) { return f.signer.Business("echo", []byte("x"), nil) },
		f.signer.Heartbeat,
		f.signer.Disconnect,
	} {
		req, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		if err := f.check(t, req); err != nil {
			t.Errorf("%v: %v", req.MessageType, err)
		}
	}
}

func TestValidateErrorCodes(t *testing.T) {
	long := strings.Repeat("x", envelope.DefaultMaxIDLength+1)
	cases := []struct {
		name   string
		mutate func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest
		code   envelope.Code
	}{
		{"unknown type", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.MessageType = pb.MessageType_UNKNOWN
			return r
		}, envelope.CodeSchemaInvalid},
		{"response type", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.MessageType = pb.MessageType_ERROR
			return r
		}, envelope.CodeSchemaInvalid},
		{"undefined enum value", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.MessageType = 42
			return r
		}, envelope.CodeSchemaInvalid},
		{"empty request_id", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.RequestId = ""
			return f.resign(r)
		}, envelope.CodeSchemaInvalid},
		{"empty device_id", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.DeviceId = ""
			return f.resign(r)
		}, envelope.CodeSchemaInvalid},
		{"empty user_id", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.UserId = ""
			return f.resign(r)
		}, envelope.CodeSchemaInvalid},
		{"long request_id", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.RequestId = long
			return f.resign(r)
		}, envelope.CodeSchemaInvalid},
		{"too many metadata", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			for i := range envelope.DefaultMaxMetadataEntries + 1 {
				r.Metadata[strings.Repeat("k", i+1)] = "v"
			}
			return r
		}, envelope.CodeSchemaInvalid},
		{"long metadata key", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.Metadata[strings.Repeat("k", envelope.DefaultMaxMetadataKeyLen+1)] = "v"
			return r
		}, envelope.CodeSchemaInvalid},
		{"empty metadata key", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.Metadata[""] = "v"
			return r
		}, envelope.CodeSchemaInvalid},
		{"long metadata value", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.Metadata["k"] = strings.Repeat("v", envelope.DefaultMaxMetadataValueLen+1)
			return r
		}, envelope.CodeSchemaInvalid},
		{"short nonce", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.Nonce = r.Nonce[:7]
			return f.resign(r)
		}, envelope.CodeNonceInvalid},
		{"long nonce", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.Nonce = make([]byte, 65)
			return f.resign(r)
		}, envelope.CodeNonceInvalid},
		{"missing nonce", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.Nonce = nil
			return f.resign(r)
		}, envelope.CodeNonceInvalid},
		{"short signature", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.Signature = r.Signature[:63]
			return r
		}, envelope.CodeSignatureInvalid},
		{"missing signature", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.Signature = nil
			return r
		}, envelope.CodeSignatureInvalid},
		{"stale timestamp", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.Timestamp = t0.Add(-envelope.DefaultWindow - time.Second).Unix()
			return f.resign(r)
		}, envelope.CodeTimestampInvalid},
		{"future timestamp", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.Timestamp = t0.Add(envelope.DefaultFutureSkew + time.Second).Unix()
			return f.resign(r)
		}, envelope.CodeTimestampInvalid},
		{"other device", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.DeviceId = "device-2"
			return f.resign(r)
		}, envelope.CodeIdentityMismatch},
		{"other user", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.UserId = "user-2"
			return f.resign(r)
		}, envelope.CodeIdentityMismatch},
		{"tampered payload", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			r.Payload = []byte("tampered")
			return r
		}, envelope.CodeSignatureInvalid},
		{"signed by another key", func(f *fixture, r *pb.RatatoskrRequest) *pb.RatatoskrRequest {
			_, other, _ := ed25519.GenerateKey(nil)
			envelope.Sign(r, other)
			return r
		}, envelope.CodeSignatureInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			req := tc.mutate(f, f.business(t, []byte("payload")))
			err := f.check(t, req)
			if got := envelope.CodeOf(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			var e *envelope.Error
			if !errors.As(err, &e) || e.Message() == "" {
				t.Fatalf("error %v is not an *envelope.Error with a message", err)
			}
		})
	}
}

func TestTimestampEdges(t *testing.T) {
	f := newFixture(t, nil)
	for _, d := range []time.Duration{-envelope.DefaultWindow, envelope.DefaultFutureSkew, 0} {
		req := f.business(t, nil)
		req.Timestamp = t0.Add(d).Unix()
		if err := f.check(t, f.resign(req)); err != nil {
			t.Errorf("offset %v refused: %v", d, err)
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	f := newFixture(t, &envelope.ValidatorOptions{MaxMessageSize: 2048})
	big := f.business(t, bytes.Repeat([]byte{'a'}, 4096))
	b, _ := proto.Marshal(big)
	if _, err := f.v.Decode(b); envelope.CodeOf(err) != envelope.CodePayloadTooLarge {
		t.Fatalf("oversized: %v", err)
	}
	for _, garbage := range [][]byte{{0xff}, {0x0a, 0x05, 'a'}, []byte("not protobuf at all \xff\xff")} {
		if _, err := f.v.Decode(garbage); envelope.CodeOf(err) != envelope.CodeMalformed {
			t.Errorf("%x: %v", garbage, err)
		}
	}
	// Invalid UTF-8 in a string field is malformed.
	bad := []byte{0x12, 0x02, 0xff, 0xfe}
	if _, err := f.v.Decode(bad); envelope.CodeOf(err) != envelope.CodeMalformed {
		t.Errorf("invalid utf-8: %v", err)
	}
}

func TestReplay(t *testing.T) {
	f := newFixture(t, nil)
	req := f.business(t, []byte("pay 10"))
	if err := f.check(t, req); err != nil {
		t.Fatal(err)
	}
	if err := f.check(t, req); envelope.CodeOf(err) != envelope.CodeReplayDetected {
		t.Fatalf("replay: %v", err)
	}
	// Another device may use the same nonce bytes.
	g := newFixture(t, &envelope.ValidatorOptions{Nonces: f.v.Options().Nonces})
	g.signer.DeviceID = "device-2"
	other := g.business(t, nil)
	other.Nonce = req.Nonce
	g.resign(other)
	if err := g.v.Validate(context.Background(), other, envelope.Expect{UserID: "user-1", DeviceID: "device-2", Key: mustKey(t, g.pub)}); err != nil {
		t.Fatalf("same nonce, other device: %v", err)
	}
}

// A request whose signature fails must not burn its nonce: the genuine
// request with that nonce is still accepted afterwards.
func TestForgeryDoesNotBurnNonce(t *testing.T) {
	f := newFixture(t, nil)
	genuine := f.business(t, []byte("real"))
	forged := proto.Clone(genuine).(*pb.RatatoskrRequest)
	forged.Payload = []byte("forged")
	if err := f.check(t, forged); envelope.CodeOf(err) != envelope.CodeSignatureInvalid {
		t.Fatalf("forged: %v", err)
	}
	if err := f.check(t, genuine); err != nil {
		t.Fatalf("genuine after forgery: %v", err)
	}
}

func TestNonceStoreFailsClosed(t *testing.T) {
	store := nonce.NewMemory(&nonce.MemoryOptions{Capacity: 1, Shards: 1})
	f := newFixture(t, &envelope.ValidatorOptions{Nonces: store})
	if err := f.check(t, f.business(t, nil)); err != nil {
		t.Fatal(err)
	}
	err := f.check(t, f.business(t, nil))
	if envelope.CodeOf(err) != envelope.CodeUnavailable {
		t.Fatalf("full store: %v", err)
	}
	if !errors.Is(err, nonce.ErrUnavailable) {
		t.Fatalf("cause lost: %v", err)
	}
	// A cancelled context is never accepted unchecked either.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g := newFixture(t, nil)
	if err := g.v.Validate(ctx, g.business(t, nil), g.expect()); envelope.CodeOf(err) != envelope.CodeUnavailable {
		t.Fatalf("cancelled ctx: %v", err)
	}
}

func TestValidatorDefaults(t *testing.T) {
	o := envelope.NewValidator(nil).Options()
	if o.MaxMessageSize != 1<<20 || o.Window != 300*time.Second || o.FutureSkew != 30*time.Second ||
		o.MinNonceSize != 8 || o.MaxNonceSize != 64 || o.Nonces == nil || o.Now == nil {
		t.Fatalf("defaults: %+v", o)
	}
	in := &envelope.ValidatorOptions{Window: time.Minute}
	v := envelope.NewValidator(in)
	if in.Nonces != nil || in.FutureSkew != 0 {
		t.Fatal("NewValidator mutated its options")
	}
	if v.ReplayTTL() != time.Minute+envelope.DefaultFutureSkew+time.Second {
		t.Fatalf("replay ttl %v", v.ReplayTTL())
	}
}

func TestNewRequestIDAndNonce(t *testing.T) {
	id, err := envelope.NewRequestID(bytes.NewReader(make([]byte, 16)))
	if err != nil {
		t.Fatal(err)
	}
	if id != "00000000-0000-4000-8000-000000000000" {
		t.Fatalf("uuid %s", id)
	}
	if _, err := envelope.NewRequestID(bytes.NewReader(nil)); err == nil {
		t.Fatal("short random source accepted")
	}
	n, err := envelope.NewNonce(nil)
	if err != nil || len(n) != envelope.DefaultNonceSize {
		t.Fatalf("nonce %x %v", n, err)
	}
	var s envelope.Signer
	if _, err := s.Heartbeat(); err == nil {
		t.Fatal("signer without key signed")
	}
}
