package envelope_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/internal/edkey"
	"github.com/ratatoskr-proto/ratatoskr/internal/forge"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// The forgery the small-order-key check exists for: plain Ed25519 accepts
// the constant signature under the neutral key, the envelope does not.
func TestSmallOrderKeyForgeryRefused(t *testing.T) {
	f := newFixture(t, nil)
	req := f.business(t, []byte("pay 1000 to mallory"))
	req.Signature = forge.ConstantSignature()
	d := envelope.Digest(req)
	if !ed25519.Verify(forge.NeutralKey(), d[:], req.Signature) {
		t.Fatal("crypto/ed25519 no longer accepts the forgery; this test proves nothing")
	}

	_, err := envelope.NewDeviceKey(forge.NeutralKey())
	if envelope.CodeOf(err) != envelope.CodeAuthFailed || !strings.Contains(envelope.MessageOf(err), "unacceptable") {
		t.Fatalf("NewDeviceKey(neutral) = %v, want AUTH_FAILED saying the key is unacceptable", err)
	}
	if !errors.Is(err, edkey.ErrSmallOrder) {
		t.Fatalf("cause %v, want ErrSmallOrder", err)
	}
	if err := envelope.Verify(req, forge.NeutralKey()); envelope.CodeOf(err) != envelope.CodeAuthFailed {
		t.Fatalf("Verify under the neutral key: %v", err)
	}
	// A zero DeviceKey (what a failed NewDeviceKey returns) verifies nothing.
	var zero envelope.DeviceKey
	if !zero.IsZero() || envelope.CodeOf(zero.Verify(req)) != envelope.CodeSignatureInvalid {
		t.Fatal("the zero DeviceKey accepted a signature")
	}
	if err := f.v.Validate(context.Background(), req, envelope.Expect{UserID: "user-1", DeviceID: "device-1"}); envelope.CodeOf(err) != envelope.CodeSignatureInvalid {
		t.Fatalf("Validate with no key: %v", err)
	}
}

func TestDeviceKeyCopies(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	k := mustKey(t, pub)
	pub[0] ^= 1 // the caller's slice is not retained
	got := k.PublicKey()
	got[1] ^= 1 // nor is the returned one shared
	req := &pb.RatatoskrRequest{RequestId: "r", DeviceId: "d", UserId: "u", Nonce: make([]byte, 8)}
	envelope.Sign(req, key)
	if err := k.Verify(req); err != nil {
		t.Fatal(err)
	}
}
