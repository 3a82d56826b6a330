package envelope

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// MetadataKeyID is the metadata key of a CONNECTION_RESPONSE that names the
// server key signing the session's responses (see KeyID).
const MetadataKeyID = "sig.key_id"

// KeyID returns the id of a server's response-signing key: the lowercase
// hex of the first 8 bytes of SHA-256 of its 32-byte public key.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// ResponseDigest returns the digest a server signs for resp:
//
//	SHA-256("ratatoskr/response/v1" ‖ 00 ‖ LP(session_id) ‖ request_digest
//	        ‖ BE32(message_type) ‖ LP(request_id) ‖ BE64(timestamp) ‖ success
//	        ‖ LP(error_code) ‖ LP(error_message) ‖ SHA-256(payload)
//	        ‖ BE32(n) ‖ LP(key) ‖ LP(value) for each metadata entry in key order)
//
// sessionID is the session's id ("" before a session is open);
// requestDigest is the signing digest of the request resp answers, in its
// scheme, or nil (32 zero bytes) when resp answers no decodable request.
// resp.Signature is not covered.
func ResponseDigest(sessionID string, requestDigest *[sha256.Size]byte, resp *pb.RatatoskrResponse) [sha256.Size]byte {
	var stack [512]byte
	b := append(stack[:0], responseContext...)
	b = appendLP(b, sessionID)
	if requestDigest != nil {
		b = append(b, requestDigest[:]...)
	} else {
		b = append(b, make([]byte, sha256.Size)...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(resp.GetMessageType()))
	b = appendLP(b, resp.GetRequestId())
	b = binary.BigEndian.AppendUint64(b, uint64(resp.GetTimestamp()))
	if resp.GetSuccess() {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendLP(b, resp.GetErrorCode())
	b = appendLP(b, resp.GetErrorMessage())
	payload := sha256.Sum256(resp.GetPayload())
	b = append(b, payload[:]...)
	b = appendMetadata(b, resp.GetMetadata())
	return sha256.Sum256(b)
}

// SignResponse sets resp.Signature to key's signature of
// ResponseDigest(sessionID, requestDigest, resp).
func SignResponse(key ed25519.PrivateKey, sessionID string, requestDigest *[sha256.Size]byte, resp *pb.RatatoskrResponse) {
	d := ResponseDigest(sessionID, requestDigest, resp)
	resp.Signature = ed25519.Sign(key, d[:])
}

var (
	errResponseUnsigned = NewError(CodeSignatureInvalid, "response is not signed by the server")
	errResponseForged   = NewError(CodeSignatureInvalid, "response signature does not verify: forged, altered, or not the answer to this request")
)

// VerifyResponse checks resp's signature by the server key pub, for the
// request whose signing digest is requestDigest (nil for a response that
// answers no request) in the session sessionID. It returns an *Error with
// CodeSignatureInvalid when resp is unsigned or the signature does not
// verify.
func VerifyResponse(pub ed25519.PublicKey, sessionID string, requestDigest *[sha256.Size]byte, resp *pb.RatatoskrResponse) error {
	sig := resp.GetSignature()
	if len(sig) == 0 {
		return errResponseUnsigned
	}
	d := ResponseDigest(sessionID, requestDigest, resp)
	if len(pub) != ed25519.PublicKeySize || len(sig) != SignatureSize || !ed25519.Verify(pub, d[:], sig) {
		return errResponseForged
	}
	return nil
}
