// Package edkey decides whether an Ed25519 public key is acceptable as a
// device key: a canonical encoding of a point in the prime-order subgroup.
//
// Ed25519 verification as crypto/ed25519 does it (cofactorless, RFC 8032)
// accepts any point on the curve as a public key. Under a small-order key
// (the neutral element, for one) the constant signature R = A, S = 0
// verifies for every message, and under a mixed-order key the signer can
// make signatures that some verifiers accept and others refuse. Whoever
// holds a token bound to such a key can sign anything as the device, and
// the device can deny what it signed. Refusing those keys where they enter,
// once per key, closes both.
package edkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Reasons a key is refused. Check wraps one of them.
var (
	ErrSize         = errors.New("not 32 bytes")
	ErrNotOnCurve   = errors.New("not a point on the curve")
	ErrNonCanonical = errors.New("not the canonical encoding of its point")
	ErrSmallOrder   = errors.New("a point of small order")
	ErrMixedOrder   = errors.New("not in the prime-order subgroup (mixed order)")
)

// lMinus1 is the group order L minus one, little-endian: a Scalar cannot
// hold L itself, so [L]P is computed as [L-1]P + P.
var lMinus1 = func() *edwards25519.Scalar {
	b := [32]byte{
		0xec, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
		0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	if err != nil {
		panic("edkey: bad constant L-1: " + err.Error())
	}
	return s
}()

// Check returns nil when pub is a canonical encoding of a point in the
// prime-order subgroup other than the neutral element, and otherwise an
// error wrapping one of the Err values. It costs one point decoding and
// one scalar multiplication (tens of microseconds), so callers run it
// once per key, not per signature.
func Check(pub []byte) error {
	_, err := Parse(pub)
	return err
}

// Key is a public key that passed Check, with its point decoded once so
// that each verification skips the decoding. A Key is immutable and safe
// for concurrent use.
type Key struct {
	enc    [ed25519.PublicKeySize]byte
	minusA edwards25519.Point // the negated key point, as verification uses it
}

// Parse checks pub as Check does and returns it decoded.
func Parse(pub []byte) (*Key, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w (%d bytes)", ErrSize, len(pub))
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, ErrNotOnCurve
	}
	// SetBytes accepts y >= p and a set sign bit on x = 0; re-encoding
	// gives the one canonical form.
	if !bytes.Equal(p.Bytes(), pub) {
		return nil, ErrNonCanonical
	}
	identity := edwards25519.NewIdentityPoint()
	eight := new(edwards25519.Point).MultByCofactor(p)
	if eight.Equal(identity) == 1 {
		return nil, ErrSmallOrder
	}
	// Variable time is fine: the key is public.
	l := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(lMinus1, p, edwards25519.NewScalar())
	l.Add(l, p)
	if l.Equal(identity) != 1 {
		return nil, ErrMixedOrder
	}
	k := new(Key)
	copy(k.enc[:], pub)
	k.minusA.Negate(p)
	return k, nil
}

// Bytes returns the key's 32-byte encoding.
func (k *Key) Bytes() []byte { return bytes.Clone(k.enc[:]) }

// Verify reports whether sig is a valid Ed25519 signature of msg by k, by
// the rules of crypto/ed25519 (RFC 8032 with the cofactorless equation):
// S must be below the group order, and [S]B - [k]A must encode to exactly
// the signature's R bytes, where k = SHA-512(R || A || msg) mod L. The
// only difference is that the key point is not decoded again.
func (k *Key) Verify(msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize || sig[63]&0xe0 != 0 {
		return false
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(k.enc[:])
	h.Write(msg)
	var digest [sha512.Size]byte
	kh, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(digest[:0]))
	if err != nil {
		return false
	}
	r := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(kh, &k.minusA, s)
	return bytes.Equal(sig[:32], r.Bytes())
}
