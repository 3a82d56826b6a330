package edkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"

	"filippo.io/edwards25519"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// The differential tests hold Key.Verify, and curve25519-voi under
// verifyOptions, to crypto/ed25519.Verify's answer on every input they
// can build: the Wycheproof and speccheck vectors, generated edge cases
// (small-order, mixed-order and non-canonical keys and R, S >= L), random
// genuine and mutated signatures, and a fuzz target. Weak keys, which
// Parse refuses, are checked through curve25519-voi directly, with and
// without an expanded key.

// verdict is one verifier's answer.
type verdict struct {
	name string
	ok   bool
}

// verdicts returns every verifier's answer for (pub, msg, sig); pub must
// be 32 bytes. The first is crypto/ed25519's, the reference.
func verdicts(pub, msg, sig []byte) []verdict {
	v := []verdict{
		{"crypto/ed25519", ed25519.Verify(pub, msg, sig)},
		{"voi", voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, verifyOptions)},
	}
	// NewExpandedPublicKey refuses only encodings that are not points,
	// under which nothing verifies.
	if x, err := voi.NewExpandedPublicKey(voi.PublicKey(pub)); err == nil {
		v = append(v, verdict{"voi-expanded", voi.VerifyExpandedWithOptions(x, msg, sig, verifyOptions)})
	} else {
		v = append(v, verdict{"voi-expanded (not a point)", false})
	}
	if r := newRefKey(pub); r != nil {
		v = append(v, verdict{"filippo", r.verify(msg, sig)})
	} else {
		v = append(v, verdict{"filippo (not a point)", false})
	}
	if k, err := Parse(pub); err == nil {
		v = append(v, verdict{"Key", k.Verify(msg, sig)})
	}
	return v
}

// agree fails t unless every verifier gives crypto/ed25519's answer, and
// returns that answer.
func agree(t testing.TB, what string, pub, msg, sig []byte) bool {
	t.Helper()
	v := verdicts(pub, msg, sig)
	for _, o := range v[1:] {
		if o.ok != v[0].ok {
			t.Errorf("%s: %s = %v, crypto/ed25519 = %v\n\tpub %x\n\tmsg %x\n\tsig %x", what, o.name, o.ok, v[0].ok, pub, msg, sig)
		}
	}
	return v[0].ok
}

// verifyOptions must be curve25519-voi's own preset for crypto/ed25519
// compatibility, field for field, and a plain Ed25519 (no context, no
// pre-hash) configuration.
func TestVerifyOptionsAreStdLib(t *testing.T) {
	if *verifyOptions.Verify != *voi.VerifyOptionsStdLib {
		t.Errorf("verifyOptions.Verify = %+v, VerifyOptionsStdLib = %+v", *verifyOptions.Verify, *voi.VerifyOptionsStdLib)
	}
	if o := verifyOptions; o.HashFunc() != 0 || o.Context != "" || o.AddedRandomness || o.SelfVerify {
		t.Errorf("verifyOptions = %+v, want plain Ed25519", *o)
	}
	vo := verifyOptions.Verify
	if !vo.CofactorlessVerify || vo.AllowNonCanonicalR {
		t.Errorf("verifyOptions.Verify = %+v: want the cofactorless equation with R compared as bytes", *vo)
	}
}

func TestDifferentialWycheproof(t *testing.T) {
	for _, c := range wycheproofCases(t) {
		if got := agree(t, fmt.Sprintf("tcId %d", c.tcID), c.pub, c.msg, c.sig); got != c.valid {
			t.Errorf("tcId %d: crypto/ed25519 = %v, Wycheproof says valid=%v", c.tcID, got, c.valid)
		}
	}
}

// speccheckStdlib is what crypto/ed25519 answers on the speccheck cases
// (Go 1.26): it accepts 0-3 (small- and mixed-order keys) and 11 (a
// non-canonical encoding of a small-order key) and refuses the rest, as
// the speccheck paper's table says of Go. Pinned so that a change of
// semantics in the standard library shows here, not only as agreement.
var speccheckStdlib = [12]bool{true, true, true, true, false, false, false, false, false, false, false, true}

func TestDifferentialSpeccheck(t *testing.T) {
	var cases []SpeccheckCase
	readJSON(t, "testdata/speccheck-cases.json", &cases)
	if len(cases) != len(speccheckStdlib) {
		t.Fatalf("%d cases, want %d", len(cases), len(speccheckStdlib))
	}
	for i, c := range cases {
		pub, _ := hex.DecodeString(c.PubKey)
		msg, _ := hex.DecodeString(c.Message)
		sig, _ := hex.DecodeString(c.Signature)
		if got := agree(t, fmt.Sprintf("case %d", i), pub, msg, sig); got != speccheckStdlib[i] {
			t.Errorf("case %d: crypto/ed25519 = %v, pinned %v", i, got, speccheckStdlib[i])
		}
	}
}

// A generated case: a key, a message and a signature built to sit on one
// of the edges where Ed25519 verifiers differ.
type edgeCase struct {
	name          string
	pub, msg, sig []byte
}

var (
	edgeOnce  sync.Once
	edgeCases []edgeCase

	// groupL is the group order L.
	groupL, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
)

// generatedEdgeCases returns the generated cases, built once.
func generatedEdgeCases() []edgeCase {
	edgeOnce.Do(func() { edgeCases = buildEdgeCases() })
	return edgeCases
}

func buildEdgeCases() []edgeCase {
	var cs []edgeCase
	add := func(name string, pub, msg, sig []byte) {
		cs = append(cs, edgeCase{name, bytes.Clone(pub), bytes.Clone(msg), bytes.Clone(sig)})
	}
	msgs := make([][]byte, 8)
	for i := range msgs {
		d := sha512.Sum512([]byte{byte(i)})
		msgs[i] = d[:32] // a 32-byte digest, as the protocol signs
	}

	// Weak keys (small order, canonical or not, and the other decodable
	// non-canonical encodings) with a small-order R and S = 0 or S = L:
	// crypto/ed25519 accepts whenever -[h]A encodes to R.
	for _, a := range weakEncodings() {
		for _, r := range smallOrderEncodings() {
			for i, m := range msgs {
				add(fmt.Sprintf("weak A %x, R %x, S 0, msg %d", a, r, i), a, m, append(bytes.Clone(r), make([]byte, 32)...))
			}
			add(fmt.Sprintf("weak A %x, R %x, S L", a, r), a, msgs[0], append(bytes.Clone(r), scalarBytes(groupL)...))
		}
	}

	// Mixed-order keys A = [a]B + T with R = [r]B + T2 and S = r + h·a,
	// as an honest signer would compute it: [S]B - [h]A = [r]B - [h]T,
	// which is R when T2 = -[h]T (cofactorless accepts), and otherwise
	// differs from R by a small-order point (cofactored accepts).
	torsionPoints := canonicalTorsion()
	for si := range 2 {
		seed := sha512.Sum512([]byte{'m', byte(si)})
		for ti, tp := range torsionPoints {
			for t2i := range torsionPoints {
				for mi := range 2 {
					pub, sig := mixedOrderSignature(seed[:32], tp, torsionPoints[t2i], msgs[mi])
					add(fmt.Sprintf("mixed seed %d T%d T2 %d msg %d", si, ti, t2i, mi), pub, msgs[mi], sig)
				}
			}
		}
	}

	for si := range 4 {
		seed := sha512.Sum512([]byte{'s', byte(si)})
		priv := ed25519.NewKeyFromSeed(seed[:32])
		pub := priv.Public().(ed25519.PublicKey)
		m := msgs[si]

		// R = identity (nonce r = 0) under a good key: a small-order R,
		// accepted as encoded canonically, refused as encoded otherwise.
		for _, r := range identityEncodings() {
			add(fmt.Sprintf("r=0 key %d, R %x", si, r), pub, m, zeroNonceSignature(seed[:32], r, m))
		}

		// S + jL: the same signature with a non-canonical S.
		sig := ed25519.Sign(priv, m)
		s := leToInt(sig[32:])
		for j := int64(1); ; j++ {
			sj := new(big.Int).Add(s, new(big.Int).Mul(groupL, big.NewInt(j)))
			if sj.BitLen() > 256 {
				break
			}
			add(fmt.Sprintf("key %d, S + %dL", si, j), pub, m, append(bytes.Clone(sig[:32]), scalarBytes(sj)...))
		}
		add(fmt.Sprintf("key %d, genuine", si), pub, m, sig)
	}
	return cs
}

// The generated cases agree, and they have teeth: crypto/ed25519 accepts
// some and refuses others, and each of curve25519-voi's other presets
// (cofactored, strict about A, ZIP-215's lenient R) disagrees with it on
// some, so the cases tell the presets apart.
func TestDifferentialEdgeCases(t *testing.T) {
	t.Parallel()
	accepted := 0
	others := map[string]*voi.VerifyOptions{
		"VerifyOptionsDefault":    voi.VerifyOptionsDefault,
		"VerifyOptionsFIPS_186_5": voi.VerifyOptionsFIPS_186_5,
		"VerifyOptionsZIP_215":    voi.VerifyOptionsZIP_215,
	}
	differ := map[string]int{}
	cs := generatedEdgeCases()
	for _, c := range cs {
		ok := agree(t, c.name, c.pub, c.msg, c.sig)
		if ok {
			accepted++
		}
		for name, o := range others {
			if voi.VerifyWithOptions(voi.PublicKey(c.pub), c.msg, c.sig, &voi.Options{Verify: o}) != ok {
				differ[name]++
			}
		}
	}
	t.Logf("%d cases, %d accepted by crypto/ed25519; other presets differ on %v", len(cs), accepted, differ)
	if accepted < 100 || len(cs)-accepted < 100 {
		t.Errorf("%d of %d accepted: the cases do not cover both answers", accepted, len(cs))
	}
	for name := range others {
		if differ[name] == 0 {
			t.Errorf("%s agrees with crypto/ed25519 on every case: the cases cannot tell the presets apart", name)
		}
	}
}

// Key.Verify and curve25519-voi agree with crypto/ed25519 on thousands of
// genuine signatures and of signatures, messages and keys with bits
// flipped, bytes cut or added, S moved by L, and another key's signature.
func TestDifferentialRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	n := 2500 // 5000 signatures: one genuine and one altered per key
	if testing.Short() {
		n = 250
	}
	accepted := 0
	for i := range n {
		var seed [ed25519.SeedSize]byte
		fill(rng, seed[:])
		priv := ed25519.NewKeyFromSeed(seed[:])
		pub := priv.Public().(ed25519.PublicKey)
		msg := make([]byte, 32)
		if i%8 == 7 {
			msg = make([]byte, rng.IntN(300))
		}
		fill(rng, msg)
		sig := ed25519.Sign(priv, msg)
		if !agree(t, fmt.Sprintf("%d genuine", i), pub, msg, sig) {
			t.Fatalf("%d: genuine signature refused", i)
		}
		what := ""
		switch i % 6 {
		case 0:
			what = "sig bit"
			sig[rng.IntN(len(sig))] ^= 1 << rng.IntN(8)
		case 1:
			what = "msg bit"
			if len(msg) == 0 {
				msg = []byte{0}
			} else {
				msg[rng.IntN(len(msg))] ^= 1 << rng.IntN(8)
			}
		case 2:
			what = "key bit" // often not a point, or a weak one
			pub = bytes.Clone(pub)
			pub[rng.IntN(len(pub))] ^= 1 << rng.IntN(8)
		case 3:
			what = "other key"
			other := ed25519.NewKeyFromSeed(append(seed[1:], seed[0]))
			sig = ed25519.Sign(other, msg)
		case 4:
			what = "length"
			if rng.IntN(2) == 0 {
				sig = sig[:rng.IntN(len(sig))]
			} else {
				sig = append(sig, byte(rng.Uint32()))
			}
		case 5:
			what = "S + L"
			s := new(big.Int).Add(leToInt(sig[32:]), groupL)
			sig = append(sig[:32], scalarBytes(s)...)
		}
		if agree(t, fmt.Sprintf("%d %s", i, what), pub, msg, sig) {
			accepted++
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	if accepted != 0 {
		t.Errorf("%d mutated signatures accepted", accepted)
	}
}

// Many goroutines verifying with one Key see the same answers (and the
// race detector sees no writes to the shared expanded key).
func TestVerifyConcurrent(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := Parse(pub)
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 32)
	sig := ed25519.Sign(priv, msg)
	bad := bytes.Clone(sig)
	bad[0] ^= 1
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if !k.Verify(msg, sig) || k.Verify(msg, bad) {
					t.Error("wrong answer under concurrency")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestZeroKeyVerifiesNothing(t *testing.T) {
	var k Key
	if k.Verify(make([]byte, 32), make([]byte, 64)) {
		t.Error("zero Key accepted a signature")
	}
}

// FuzzVerifyDifferential checks that every verifier gives crypto/ed25519's
// answer on inputs built by mode from the fuzzer's bytes:
//
//	0  raw key and signature bytes
//	1  a genuine signature (key from the seed key) XORed with the mask sig
//	2  a genuine signature with S + jL, j from the mask
//	3  a signature with nonce r = 0 (R = identity) under one of its encodings
//	4  a weak key (small order or non-canonical) with a small-order R and
//	   the mask's bytes as S
//	5  a mixed-order key with an honestly computed signature
func FuzzVerifyDifferential(f *testing.F) {
	seed := bytes.Repeat([]byte{7}, 32)
	digest := sha512.Sum512([]byte("request"))
	msg := digest[:32]
	for mode := range uint8(6) {
		f.Add(mode, seed, msg, []byte{})
		f.Add(mode, seed, msg, []byte{1, 2, 3})
	}
	f.Fuzz(func(t *testing.T, mode uint8, key, msg, mask []byte) {
		pub, sig := fuzzInput(mode, key, msg, mask)
		agree(t, fmt.Sprintf("mode %d", mode%6), pub, msg, sig)
	})
}

func fuzzInput(mode uint8, key, msg, mask []byte) (pub, sig []byte) {
	at := func(b []byte, i int) int {
		if i < len(b) {
			return int(b[i])
		}
		return 0
	}
	switch mode % 6 {
	case 0:
		return fit(key, 32), mask
	case 1:
		priv := ed25519.NewKeyFromSeed(fit(key, 32))
		sig = ed25519.Sign(priv, msg)
		for i, b := range mask {
			if i < len(sig) {
				sig[i] ^= b
			} else {
				sig = append(sig, b)
			}
		}
		return priv.Public().(ed25519.PublicKey), sig
	case 2:
		priv := ed25519.NewKeyFromSeed(fit(key, 32))
		sig = ed25519.Sign(priv, msg)
		s := new(big.Int).Add(leToInt(sig[32:]), new(big.Int).Mul(groupL, big.NewInt(int64(1+at(mask, 0)%15))))
		return priv.Public().(ed25519.PublicKey), append(sig[:32], scalarBytes(s)...)
	case 3:
		s := fit(key, 32)
		ids := identityEncodings()
		pub := ed25519.NewKeyFromSeed(s).Public().(ed25519.PublicKey)
		return pub, zeroNonceSignature(s, ids[at(mask, 0)%len(ids)], msg)
	case 4:
		weak, small := weakEncodings(), smallOrderEncodings()
		r := small[at(mask, 0)%len(small)]
		var s []byte
		if len(mask) > 1 {
			s = fit(mask[1:], 32)
		} else {
			s = make([]byte, 32)
		}
		return weak[at(key, 0)%len(weak)], append(bytes.Clone(r), s...)
	default:
		tp := canonicalTorsion()
		return mixedOrderSignature(fit(key, 32), tp[at(mask, 0)%8], tp[at(mask, 1)%8], msg)
	}
}

// fit returns b cut or zero-padded to n bytes.
func fit(b []byte, n int) []byte {
	out := make([]byte, n)
	copy(out, b)
	return out
}

func fill(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// leToInt reads a little-endian integer.
func leToInt(b []byte) *big.Int {
	be := bytes.Clone(b)
	for i, j := 0, len(be)-1; i < j; i, j = i+1, j-1 {
		be[i], be[j] = be[j], be[i]
	}
	return new(big.Int).SetBytes(be)
}

// scalarBytes writes v (below 2^256) as 32 little-endian bytes.
func scalarBytes(v *big.Int) []byte {
	return littleEndian(v)
}

// secretScalar is the signing scalar a of an RFC 8032 seed.
func secretScalar(seed []byte) *edwards25519.Scalar {
	h := sha512.Sum512(seed)
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		panic(err)
	}
	return a
}

// challenge is h = SHA-512(R || A || msg) mod L.
func challenge(r, a, msg []byte) *edwards25519.Scalar {
	d := sha512.New()
	d.Write(r)
	d.Write(a)
	d.Write(msg)
	h, err := edwards25519.NewScalar().SetUniformBytes(d.Sum(nil))
	if err != nil {
		panic(err)
	}
	return h
}

// zeroNonceSignature signs msg with the key of seed and the nonce r = 0,
// so R is the identity; rEnc is the encoding of R put in the signature
// (and hashed), canonical or not.
func zeroNonceSignature(seed, rEnc, msg []byte) []byte {
	a := secretScalar(seed)
	pub := new(edwards25519.Point).ScalarBaseMult(a).Bytes()
	s := edwards25519.NewScalar().Multiply(challenge(rEnc, pub, msg), a)
	return append(bytes.Clone(rEnc), s.Bytes()...)
}

// mixedOrderSignature returns the mixed-order key A = [a]B + T (a from
// seed) and the signature an honest signer computes for it with
// R = [r]B + T2: S = r + h·a.
func mixedOrderSignature(seed []byte, t, t2 *edwards25519.Point, msg []byte) (pub, sig []byte) {
	a := secretScalar(seed)
	A := new(edwards25519.Point).ScalarBaseMult(a)
	A.Add(A, t)
	pub = A.Bytes()
	nonce := sha512.Sum512(append(bytes.Clone(seed), msg...))
	r, err := edwards25519.NewScalar().SetUniformBytes(nonce[:])
	if err != nil {
		panic(err)
	}
	R := new(edwards25519.Point).ScalarBaseMult(r)
	R.Add(R, t2)
	rEnc := R.Bytes()
	s := edwards25519.NewScalar().MultiplyAdd(challenge(rEnc, pub, msg), a, r)
	return pub, append(rEnc, s.Bytes()...)
}

var (
	encOnce              sync.Once
	smallEncs, weakEncs  [][]byte
	torsionCanon         []*edwards25519.Point
	identityEncs         [][]byte
	fieldP               = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	identityPointEncoded = edwards25519.NewIdentityPoint().Bytes()
)

func initEncodings() {
	encOnce.Do(func() {
		seen := map[string]bool{}
		addWeak := func(b []byte) {
			if seen[string(b)] {
				return
			}
			p, err := new(edwards25519.Point).SetBytes(b)
			if err != nil {
				return
			}
			seen[string(b)] = true
			weakEncs = append(weakEncs, b)
			if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
				smallEncs = append(smallEncs, b)
				if p.Equal(edwards25519.NewIdentityPoint()) == 1 {
					identityEncs = append(identityEncs, b)
				}
			}
		}
		for _, h := range smallOrder {
			b, _ := hex.DecodeString(h)
			addWeak(b)
			p, _ := new(edwards25519.Point).SetBytes(b)
			torsionCanon = append(torsionCanon, p)
			flipped := bytes.Clone(b)
			flipped[31] ^= 0x80 // x = 0 with the sign bit set, for y = ±1
			addWeak(flipped)
		}
		// y + p for y < 19, with either sign bit: every non-canonical y.
		for y := int64(0); y < 19; y++ {
			for _, sign := range []byte{0, 0x80} {
				b := littleEndian(new(big.Int).Add(fieldP, big.NewInt(y)))
				b[31] |= sign
				addWeak(b)
			}
		}
	})
}

// smallOrderEncodings returns every encoding, canonical or not, of a point
// of small order (14: the 8 canonical ones and 6 others).
func smallOrderEncodings() [][]byte { initEncodings(); return smallEncs }

// weakEncodings returns the small-order encodings and every other
// decodable non-canonical encoding.
func weakEncodings() [][]byte { initEncodings(); return weakEncs }

// identityEncodings returns the encodings of the identity, the canonical
// one first.
func identityEncodings() [][]byte { initEncodings(); return identityEncs }

// canonicalTorsion returns the 8 points of small order.
func canonicalTorsion() []*edwards25519.Point { initEncodings(); return torsionCanon }

func TestEncodings(t *testing.T) {
	if n := len(smallOrderEncodings()); n != 14 {
		t.Errorf("%d small-order encodings, want 14", n)
	}
	if ids := identityEncodings(); len(ids) != 4 || !bytes.Equal(ids[0], identityPointEncoded) {
		t.Errorf("identity encodings %x", ids)
	}
	if len(weakEncodings()) <= len(smallOrderEncodings()) {
		t.Errorf("no non-canonical encodings beyond the small-order ones")
	}
	for _, b := range weakEncodings() {
		if Check(b) == nil {
			t.Errorf("Check(%x) accepted a weak encoding", b)
		}
	}
}
