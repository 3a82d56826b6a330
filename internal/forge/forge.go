// Package forge builds the frames and keys of known attacks on the v1
// protocol, for the tests that prove each one fails. Nothing outside tests
// uses it.
package forge

import (
	"bytes"
	"crypto/ed25519"

	"google.golang.org/protobuf/proto"

	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// MoveBoundary returns a copy of req with k bytes moved from the end of the
// nonce to the front of the payload (k > 0), or from the front of the
// payload onto the end of the nonce (k < 0). The v1 digest, and so the
// signature, is unchanged; only a replay record keyed on the signed content
// recognises the copy.
func MoveBoundary(req *pb.RatatoskrRequest, k int) *pb.RatatoskrRequest {
	r := proto.Clone(req).(*pb.RatatoskrRequest)
	joined := append(bytes.Clone(r.Nonce), r.Payload...)
	cut := len(r.Nonce) - k
	r.Nonce, r.Payload = joined[:cut], joined[cut:]
	return r
}

// NeutralKey returns the neutral element of edwards25519 as a public key
// (01 00…00): a point of small order.
func NeutralKey() ed25519.PublicKey {
	k := make(ed25519.PublicKey, ed25519.PublicKeySize)
	k[0] = 1
	return k
}

// ConstantSignature returns R = 01 00…00, S = 0: under NeutralKey, plain
// Ed25519 verification accepts it for every message.
func ConstantSignature() []byte {
	sig := make([]byte, ed25519.SignatureSize)
	sig[0] = 1
	return sig
}
