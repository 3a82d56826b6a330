package edkey

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// BenchmarkVerify compares the verifiers on what the protocol signs, a
// 32-byte SHA-256 digest: crypto/ed25519, the filippo.io/edwards25519 Key
// (refKey), curve25519-voi with the key decoded per call and with a cached
// expanded key, and Key.Verify as it stands.
func BenchmarkVerify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	digest := sha256.Sum256([]byte("request"))
	msg := digest[:]
	sig := ed25519.Sign(priv, msg)
	ref := newRefKey(pub)
	opts := &voi.Options{Verify: voi.VerifyOptionsStdLib}
	xk, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		b.Fatal(err)
	}
	k, err := Parse(pub)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		verify func() bool
	}{
		{"stdlib", func() bool { return ed25519.Verify(pub, msg, sig) }},
		{"filippo", func() bool { return ref.verify(msg, sig) }},
		{"voi", func() bool { return voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, opts) }},
		{"voi-expanded", func() bool { return voi.VerifyExpandedWithOptions(xk, msg, sig, opts) }},
		{"Key", func() bool { return k.Verify(msg, sig) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !bc.verify() {
					b.Fatal("refused")
				}
			}
		})
	}
}

// BenchmarkParse is the once-per-key cost: Check alone, and Check plus the
// expanded key that Parse builds.
func BenchmarkParse(b *testing.B) {
	pub, _, _ := ed25519.GenerateKey(nil)
	b.Run("Check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := Check(pub); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse(pub); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("filippo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if newRefKey(pub) == nil {
				b.Fatal("refused")
			}
		}
	})
}
