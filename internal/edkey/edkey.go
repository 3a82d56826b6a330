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
	"errors"
	"fmt"

	"filippo.io/edwards25519"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
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
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w (%d bytes)", ErrSize, len(pub))
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return ErrNotOnCurve
	}
	// SetBytes accepts y >= p and a set sign bit on x = 0; re-encoding
	// gives the one canonical form.
	if !bytes.Equal(p.Bytes(), pub) {
		return ErrNonCanonical
	}
	identity := edwards25519.NewIdentityPoint()
	eight := new(edwards25519.Point).MultByCofactor(p)
	if eight.Equal(identity) == 1 {
		return ErrSmallOrder
	}
	// Variable time is fine: the key is public.
	l := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(lMinus1, p, edwards25519.NewScalar())
	l.Add(l, p)
	if l.Equal(identity) != 1 {
		return ErrMixedOrder
	}
	return nil
}

// Key is a public key that passed Check, expanded once into the tables
// curve25519-voi verifies with (about 1.5 KiB), so that each verification
// skips decoding the point and building its multiples. On x86-64 with AVX2
// a verification costs about 40% less than crypto/ed25519.Verify; without
// AVX2 (other CPUs, the purego build tag) about 15% less. Keys come from
// Parse; the zero Key verifies no signature. A Key is immutable and safe
// for concurrent use.
type Key struct {
	enc [ed25519.PublicKeySize]byte
	x   *voi.ExpandedPublicKey
}

// verifyOptions are the rules of crypto/ed25519 in curve25519-voi's terms
// (its VerifyOptionsStdLib, spelled out so that nothing else in the
// program can change them through that exported variable): the
// cofactorless equation with the result compared as encoded to the
// signature's R bytes, so that a non-canonical R never verifies; S below
// the group order; small-order R, small-order A and non-canonical A not
// refused by the verifier. Parse refuses weak keys before any of this; the
// verification itself stays exactly crypto/ed25519's, which the
// differential tests hold it to.
var verifyOptions = &voi.Options{
	Verify: &voi.VerifyOptions{
		AllowSmallOrderA:   true,
		AllowSmallOrderR:   true,
		AllowNonCanonicalA: true,
		AllowNonCanonicalR: false,
		CofactorlessVerify: true,
	},
}

// Parse checks pub as Check does and returns it as a Key. Expanding the
// key costs a few microseconds on top of Check.
func Parse(pub []byte) (*Key, error) {
	if err := Check(pub); err != nil {
		return nil, err
	}
	x, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		// Unreachable: Check decoded the same bytes.
		return nil, ErrNotOnCurve
	}
	k := &Key{x: x}
	copy(k.enc[:], pub)
	return k, nil
}

// Bytes returns the key's 32-byte encoding.
func (k *Key) Bytes() []byte { return bytes.Clone(k.enc[:]) }

// Verify reports whether sig is a valid Ed25519 signature of msg by k, by
// the rules of crypto/ed25519 (RFC 8032 with the cofactorless equation):
// sig is 64 bytes, S is below the group order, and [S]B - [h]A encodes to
// exactly the signature's R bytes, where h = SHA-512(R || A || msg) mod L.
// It is meant to give crypto/ed25519.Verify's answer for every input, and
// differential_test.go holds it to that; only the work differs
// (curve25519-voi, with the key expanded once by Parse).
func (k *Key) Verify(msg, sig []byte) bool {
	if k.x == nil {
		return false
	}
	// With verifyOptions fixed as above, VerifyExpandedWithOptions
	// cannot panic: it does so only for bad options, a bad context, or a
	// pre-hashed message of the wrong length.
	return voi.VerifyExpandedWithOptions(k.x, msg, sig, verifyOptions)
}
