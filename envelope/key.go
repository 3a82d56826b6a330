package envelope

import (
	"crypto/ed25519"
	"crypto/sha256"

	"github.com/ratatoskr-proto/ratatoskr/internal/edkey"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// DeviceKey is a device's Ed25519 public key, checked once by NewDeviceKey
// to be a canonical encoding of a point in the prime-order subgroup. Plain
// Ed25519 verification accepts any curve point as a key, and under a
// small-order one (the neutral element, 01 00…00, for one) a constant
// signature verifies for every message; a DeviceKey cannot hold such a
// key, so signatures checked with it cannot be forged that way.
//
// The zero DeviceKey holds no key: every signature fails under it. A
// DeviceKey is immutable and safe for concurrent use.
type DeviceKey struct {
	k *edkey.Key // decoded once, so verification skips decoding the point
}

// NewDeviceKey checks pub and returns it as a DeviceKey. A key that is not
// 32 bytes, not a canonical point encoding, of small order or of mixed
// order is refused with an *Error of CodeAuthFailed that says the key is
// unacceptable (the reason is its cause, for logs). The check costs about
// as much as one signature verification: run it once per key (a server
// does, per token), not per request. pub is copied.
//
// A DeviceKey keeps the key prepared for verification (curve25519-voi's
// expanded form, about 1.5 KiB), so each verification with it takes about
// 0.6x the time of crypto/ed25519.Verify on x86-64 with AVX2 (about 0.9x
// elsewhere); the verification rules are the same (RFC 8032, cofactorless,
// S below the group order, R compared as encoded), held to crypto/ed25519
// by differential tests.
func NewDeviceKey(pub ed25519.PublicKey) (DeviceKey, error) {
	k, err := edkey.Parse(pub)
	if err != nil {
		return DeviceKey{}, WrapError(CodeAuthFailed, "device public key is unacceptable: "+err.Error(), err)
	}
	return DeviceKey{k: k}, nil
}

// PublicKey returns a copy of the key, nil for the zero DeviceKey.
func (k DeviceKey) PublicKey() ed25519.PublicKey {
	if k.k == nil {
		return nil
	}
	return k.k.Bytes()
}

// IsZero reports whether k holds no key.
func (k DeviceKey) IsZero() bool { return k.k == nil }

// Verify reports whether req carries a valid v1 signature by k. It returns
// an *Error with CodeSignatureInvalid when it does not.
func (k DeviceKey) Verify(req *pb.RatatoskrRequest) error {
	d := Digest(req)
	return k.verifyDigest(&d, req.GetSignature())
}

// VerifyScheme reports whether req carries a valid signature by k under
// scheme s. It returns an *Error with CodeSignatureInvalid when it does
// not.
func (k DeviceKey) VerifyScheme(req *pb.RatatoskrRequest, s Scheme) error {
	d := s.Digest(req)
	return k.verifyDigest(&d, req.GetSignature())
}

// verifyDigest checks sig over the digest d.
func (k DeviceKey) verifyDigest(d *[sha256.Size]byte, sig []byte) error {
	if k.k == nil {
		return errNoKey
	}
	if len(sig) != SignatureSize {
		return errSignatureSize
	}
	if !k.k.Verify(d[:], sig) {
		return errBadSignature
	}
	return nil
}
