package envelope_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

// FuzzDecodeValidate feeds arbitrary frames through decode and validation:
// nothing may panic, every refusal carries a protocol code, and only frames
// signed by the device key are accepted.
func FuzzDecodeValidate(f *testing.F) {
	seed := make([]byte, ed25519.SeedSize)
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	dk, err := envelope.NewDeviceKey(pub)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	s := &envelope.Signer{DeviceID: "device-1", UserID: "user-1", Key: key, Now: func() time.Time { return now }}
	for _, mk := range []func() ([]byte, error){
		func() ([]byte, error) {
			r, _ := s.Business("echo", []byte("hi"), map[string]string{"k": "v"})
			return proto.Marshal(r)
		},
		func() ([]byte, error) { r, _ := s.ConnectionRequest("a.b.c"); return proto.Marshal(r) },
		func() ([]byte, error) { r, _ := s.Heartbeat(); return proto.Marshal(r) },
	} {
		b, err := mk()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		v := envelope.NewValidator(&envelope.ValidatorOptions{MaxMessageSize: 4096, Now: func() time.Time { return now }})
		req, err := v.Decode(b)
		if err != nil {
			if c := envelope.CodeOf(err); c != envelope.CodeMalformed && c != envelope.CodePayloadTooLarge {
				t.Fatalf("decode error code %s", c)
			}
			return
		}
		err = v.Validate(context.Background(), req, envelope.Expect{UserID: "user-1", DeviceID: "device-1", Key: dk})
		if err == nil {
			d := envelope.Digest(req)
			if !ed25519.Verify(pub, d[:], req.GetSignature()) {
				t.Fatal("accepted a request the device did not sign")
			}
			return
		}
		if envelope.CodeOf(err).Kind() == envelope.KindApplication || envelope.CodeOf(err) == envelope.CodeInternal {
			t.Fatalf("validate error without protocol code: %v", err)
		}
		if req.GetMessageType() == 0 {
			_, _ = envelope.ConnectionPayload(req)
		}
	})
}
