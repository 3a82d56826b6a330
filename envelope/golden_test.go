package envelope_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// The vectors below were derived outside this code: the digest with
// Python's hashlib and the signature with `openssl pkeyutl -sign -rawin`.
// docs/PROTOCOL.md lists them for other implementations. (The wire-byte
// vectors live with the schema, in proto/proto_test.go.)

// Signature vector 1 (docs/PROTOCOL.md).
const (
	vecSeed      = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	vecPublicKey = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
	vecDigest    = "2662d4d2089dca33e3f3a9d382e262f7deb93f887161be3e8c3da9521c81a8c7"
	vecSignature = "7ff6a5a6f4b2d36693c265e75dd9c0d106df376693e5426abbd012882bd18534" +
		"f499b61d0060b8fb5fad022ee7120c4004cc4905eddb9fe72b4158c79ff81e0e"
)

func vecRequest() *pb.RatatoskrRequest {
	return &pb.RatatoskrRequest{
		MessageType: pb.MessageType_BUSINESS_REQUEST,
		RequestId:   "req-0001",
		DeviceId:    "device-1",
		UserId:      "user-1",
		Timestamp:   1700000000,
		Nonce:       []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		Payload:     []byte("hello"),
		// Neither type nor metadata is signed in v1.
		Metadata: map[string]string{"service": "echo"},
	}
}

func TestGoldenSignatureVector(t *testing.T) {
	seed, _ := hex.DecodeString(vecSeed)
	key := ed25519.NewKeyFromSeed(seed)
	if got := hex.EncodeToString(key.Public().(ed25519.PublicKey)); got != vecPublicKey {
		t.Fatalf("public key %s, want %s", got, vecPublicKey)
	}
	req := vecRequest()
	d := envelope.Digest(req)
	if got := hex.EncodeToString(d[:]); got != vecDigest {
		t.Fatalf("digest %s, want %s", got, vecDigest)
	}
	envelope.Sign(req, key)
	if got := hex.EncodeToString(req.Signature); got != vecSignature {
		t.Fatalf("signature %s, want %s", got, vecSignature)
	}
	pub, _ := hex.DecodeString(vecPublicKey)
	if err := envelope.Verify(req, pub); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Changing what v1 does not cover keeps the signature valid: the
	// documented limit of v1.
	req.MessageType = pb.MessageType_HEARTBEAT
	req.Metadata["service"] = "heidrun"
	if err := envelope.Verify(req, pub); err != nil {
		t.Fatalf("v1 must not cover type and metadata: %v", err)
	}
	// Every signed field is covered.
	for name, mutate := range map[string]func(*pb.RatatoskrRequest){
		"request_id": func(r *pb.RatatoskrRequest) { r.RequestId += "x" },
		"device_id":  func(r *pb.RatatoskrRequest) { r.DeviceId += "x" },
		"user_id":    func(r *pb.RatatoskrRequest) { r.UserId += "x" },
		"timestamp":  func(r *pb.RatatoskrRequest) { r.Timestamp++ },
		"nonce":      func(r *pb.RatatoskrRequest) { r.Nonce[0] ^= 1 },
		"payload":    func(r *pb.RatatoskrRequest) { r.Payload = []byte("hellp") },
	} {
		r := vecRequest()
		r.Signature, _ = hex.DecodeString(vecSignature)
		mutate(r)
		if envelope.CodeOf(envelope.Verify(r, pub)) != envelope.CodeSignatureInvalid {
			t.Errorf("changing %s did not break the signature", name)
		}
	}
}

// A negative timestamp is encoded as 8-byte two's complement.
func TestDigestNegativeTimestamp(t *testing.T) {
	d := envelope.DigestFields("r", "d", "u", -1, make([]byte, 8), nil)
	const want = "961b572a295ae32e9f0734f07c35c3378807cbecee9334a272b8455406755940"
	if got := hex.EncodeToString(d[:]); got != want {
		t.Fatalf("digest %s, want %s", got, want)
	}
}
