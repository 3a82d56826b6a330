package edkey

import (
	"crypto/ed25519"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// Key.Verify gives Wycheproof's expected result on every case of its EdDSA
// set: valid signatures, and every kind of invalid one (truncated,
// malleable S, S >= L, garbage, non-canonical R).
func TestVerifyWycheproof(t *testing.T) {
	for _, c := range wycheproofCases(t) {
		k, err := Parse(c.pub)
		if err != nil {
			t.Fatalf("Parse(%x): %v", c.pub, err)
		}
		if got := k.Verify(c.msg, c.sig); got != c.valid {
			t.Errorf("tcId %d (%s): Verify = %v, want %v", c.tcID, c.about, got, c.valid)
		}
		if std := ed25519.Verify(c.pub, c.msg, c.sig); std != c.valid {
			t.Errorf("tcId %d: crypto/ed25519 = %v, want %v", c.tcID, std, c.valid)
		}
	}
}

// The speccheck cases whose key is acceptable (6 and 7, S out of range)
// are refused by Verify, as by crypto/ed25519.
func TestVerifySpeccheck(t *testing.T) {
	var cases []SpeccheckCase
	readJSON(t, "testdata/speccheck-cases.json", &cases)
	for i, c := range cases {
		pub, _ := hex.DecodeString(c.PubKey)
		msg, _ := hex.DecodeString(c.Message)
		sig, _ := hex.DecodeString(c.Signature)
		k, err := Parse(pub)
		if err != nil {
			continue // refused at the key, TestSpeccheckKeys
		}
		if k.Verify(msg, sig) || ed25519.Verify(pub, msg, sig) {
			t.Errorf("case %d accepted", i)
		}
	}
}

// Key.Verify and crypto/ed25519.Verify agree on genuine signatures and on
// signatures, messages and keys with random bits flipped.
func TestVerifyMatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for i := range n {
		var seed [ed25519.SeedSize]byte
		for j := range seed {
			seed[j] = byte(rng.Uint32())
		}
		priv := ed25519.NewKeyFromSeed(seed[:])
		pub := priv.Public().(ed25519.PublicKey)
		msg := make([]byte, rng.IntN(200))
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		sig := ed25519.Sign(priv, msg)
		k, err := Parse(pub)
		if err != nil {
			t.Fatal(err)
		}
		if !k.Verify(msg, sig) {
			t.Fatalf("%d: genuine signature refused", i)
		}
		switch i % 3 {
		case 0:
			sig[rng.IntN(len(sig))] ^= 1 << rng.IntN(8)
		case 1:
			if len(msg) == 0 {
				msg = []byte{0}
			} else {
				msg[rng.IntN(len(msg))] ^= 1 << rng.IntN(8)
			}
		case 2: // another key's signature
			other := ed25519.NewKeyFromSeed(append(seed[1:], seed[0]))
			sig = ed25519.Sign(other, msg)
		}
		if got, want := k.Verify(msg, sig), ed25519.Verify(pub, msg, sig); got != want {
			t.Fatalf("%d: Verify = %v, crypto/ed25519 = %v (msg %x sig %x)", i, got, want, msg, sig)
		}
	}
}

func BenchmarkKeyVerify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 32)
	sig := ed25519.Sign(priv, msg)
	k, _ := Parse(pub)
	b.Run("Key", func(b *testing.B) {
		for b.Loop() {
			if !k.Verify(msg, sig) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("refused")
			}
		}
	})
}
