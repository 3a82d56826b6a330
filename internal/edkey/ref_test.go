package edkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"

	"filippo.io/edwards25519"
)

// refKey is the verifier Key used before curve25519-voi: crypto/ed25519's
// algorithm on filippo.io/edwards25519 with the key point decoded once.
// It stays here as a second reference for the differential tests and as
// the baseline of the benchmarks.
type refKey struct {
	enc    [ed25519.PublicKeySize]byte
	minusA edwards25519.Point
}

// newRefKey decodes pub as crypto/ed25519 does (any point on the curve,
// non-canonical encodings included); it returns nil when pub is not a
// point.
func newRefKey(pub []byte) *refKey {
	if len(pub) != ed25519.PublicKeySize {
		return nil
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil
	}
	k := new(refKey)
	copy(k.enc[:], pub)
	k.minusA.Negate(p)
	return k
}

func (k *refKey) verify(msg, sig []byte) bool {
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
