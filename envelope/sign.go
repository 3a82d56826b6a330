package envelope

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"

	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// SignatureSize is the size of an Ed25519 signature, the only size a
// request's signature may have.
const SignatureSize = ed25519.SignatureSize

// Digest returns the v1 signing digest of req:
//
//	SHA256(request_id ‖ device_id ‖ user_id ‖ BE64(timestamp) ‖ nonce ‖ payload)
//
// The digest covers neither message_type nor metadata: an attacker who can
// alter frames in transit (no TLS) could change the type or the service of
// a signed request without breaking its signature. Run Ratatoskr over TLS.
func Digest(req *pb.RatatoskrRequest) [sha256.Size]byte {
	return DigestFields(req.GetRequestId(), req.GetDeviceId(), req.GetUserId(),
		req.GetTimestamp(), req.GetNonce(), req.GetPayload())
}

// DigestFields returns the v1 signing digest of the given fields; see Digest.
func DigestFields(requestID, deviceID, userID string, timestamp int64, nonce, payload []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(requestID))
	h.Write([]byte(deviceID))
	h.Write([]byte(userID))
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(timestamp))
	h.Write(ts[:])
	h.Write(nonce)
	h.Write(payload)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// Sign sets req.Signature to the Ed25519 signature of Digest(req) by key
// (signature v1).
func Sign(req *pb.RatatoskrRequest, key ed25519.PrivateKey) {
	SignWith(req, key, SchemeV1)
}

// SignWith sets req.Signature to the Ed25519 signature of req's digest
// under scheme s by key.
func SignWith(req *pb.RatatoskrRequest, key ed25519.PrivateKey, s Scheme) {
	d := s.Digest(req)
	req.Signature = ed25519.Sign(key, d[:])
}

// Verify reports whether req carries a valid signature by pub. It checks pub
// first, as NewDeviceKey does, and returns that *Error (CodeAuthFailed) for
// an unacceptable key, so it costs about two verifications: to check many
// requests of one device, make a DeviceKey once and use its Verify. It
// returns an *Error with CodeSignatureInvalid when the signature does not
// verify.
func Verify(req *pb.RatatoskrRequest, pub ed25519.PublicKey) error {
	k, err := NewDeviceKey(pub)
	if err != nil {
		return err
	}
	return k.Verify(req)
}

var (
	errNoKey         = NewError(CodeSignatureInvalid, "no valid device public key")
	errSignatureSize = NewError(CodeSignatureInvalid, "signature must be 64 bytes")
	errBadSignature  = NewError(CodeSignatureInvalid, "signature does not verify")
)
