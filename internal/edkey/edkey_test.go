package edkey

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"testing"

	"filippo.io/edwards25519"
)

// torsion returns the eight points of small order, in their canonical
// encodings, found as [L]P for points P decoded from hashes: [L]P has an
// order dividing 8, and enough of them cover the whole torsion subgroup.
func torsion(t *testing.T) map[string]*edwards25519.Point {
	t.Helper()
	got := map[string]*edwards25519.Point{}
	for i := 0; len(got) < 8 && i < 10000; i++ {
		var seed [8]byte
		binary.LittleEndian.PutUint64(seed[:], uint64(i))
		h := sha512.Sum512(seed[:])
		p, err := new(edwards25519.Point).SetBytes(h[:32])
		if err != nil {
			continue
		}
		l := new(edwards25519.Point).ScalarMult(lMinus1, p)
		l.Add(l, p)
		got[hex.EncodeToString(l.Bytes())] = l
	}
	if len(got) != 8 {
		t.Fatalf("found %d small-order points, want 8", len(got))
	}
	return got
}

// smallOrder are the canonical encodings of the eight small-order points,
// computed independently of this code (plain integer arithmetic in Python,
// as docs/PROTOCOL.md lists them).
var smallOrder = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0000000000000000000000000000000000000000000000000000000000000080",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

func TestSmallOrderRefused(t *testing.T) {
	found := torsion(t)
	for _, enc := range smallOrder {
		if _, ok := found[enc]; !ok {
			t.Errorf("%s is not among the small-order points found here", enc)
		}
	}
	for enc := range found {
		b, _ := hex.DecodeString(enc)
		if err := Check(b); !errors.Is(err, ErrSmallOrder) {
			t.Errorf("Check(%s) = %v, want ErrSmallOrder", enc, err)
		}
	}
	// The neutral element the issue names.
	neutral := make([]byte, 32)
	neutral[0] = 1
	if err := Check(neutral); !errors.Is(err, ErrSmallOrder) {
		t.Errorf("Check(neutral) = %v", err)
	}
}

// Every encoding of a y coordinate at or above p (y + p for y < 19, the only
// ones that fit in 255 bits), with either sign bit, and x = 0 with the sign
// bit set, is refused: non-canonical, or not on the curve.
func TestNonCanonicalRefused(t *testing.T) {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	for y := int64(0); y < 19; y++ {
		v := new(big.Int).Add(p, big.NewInt(y))
		for _, sign := range []byte{0, 0x80} {
			b := littleEndian(v)
			b[31] |= sign
			if err := Check(b); err == nil {
				t.Errorf("Check(%x) accepted y = p + %d", b, y)
			} else if !errors.Is(err, ErrNonCanonical) && !errors.Is(err, ErrNotOnCurve) {
				t.Errorf("Check(%x) = %v", b, err)
			}
		}
	}
	for _, y := range []int64{1} { // y = 1 and y = -1 have x = 0
		for _, v := range []*big.Int{big.NewInt(y), new(big.Int).Sub(p, big.NewInt(y))} {
			b := littleEndian(v)
			b[31] |= 0x80
			if err := Check(b); !errors.Is(err, ErrNonCanonical) {
				t.Errorf("Check(%x) = %v, want ErrNonCanonical", b, err)
			}
		}
	}
}

func littleEndian(v *big.Int) []byte {
	be := v.FillBytes(make([]byte, 32))
	le := make([]byte, 32)
	for i := range be {
		le[i] = be[31-i]
	}
	return le
}

// A key plus any non-neutral small-order point is of mixed order.
func TestMixedOrderRefused(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		t.Fatal(err)
	}
	for enc, tp := range torsion(t) {
		if tp.Equal(edwards25519.NewIdentityPoint()) == 1 {
			continue
		}
		m := new(edwards25519.Point).Add(a, tp)
		if err := Check(m.Bytes()); !errors.Is(err, ErrMixedOrder) {
			t.Errorf("Check(A + %s) = %v, want ErrMixedOrder", enc, err)
		}
	}
}

func TestRandomKeysAccepted(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	for range n {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(pub); err != nil {
			t.Fatalf("Check(%x) = %v", pub, err)
		}
	}
}

func TestSize(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		if err := Check(make([]byte, n)); !errors.Is(err, ErrSize) {
			t.Errorf("Check(%d bytes) = %v", n, err)
		}
	}
}

// SpeccheckCase is one case of "Taming the many EdDSAs" (testdata).
type SpeccheckCase struct {
	Message   string `json:"message"`
	PubKey    string `json:"pub_key"`
	Signature string `json:"signature"`
}

// The speccheck keys of cases 0-5 and 8-11 are small- or mixed-order,
// canonical or not; those of 6 and 7 (S out of range) are ordinary.
func TestSpeccheckKeys(t *testing.T) {
	var cases []SpeccheckCase
	readJSON(t, "testdata/speccheck-cases.json", &cases)
	if len(cases) != 12 {
		t.Fatalf("%d cases, want 12", len(cases))
	}
	for i, c := range cases {
		pub, _ := hex.DecodeString(c.PubKey)
		err := Check(pub)
		if ordinary := i == 6 || i == 7; ordinary != (err == nil) {
			t.Errorf("case %d: Check(%s) = %v", i, c.PubKey, err)
		}
	}
}

// wycheproofCase is one verification case of Wycheproof's EdDSA set
// (testdata), decoded.
type wycheproofCase struct {
	tcID          int
	pub, msg, sig []byte
	valid         bool
	about         string // the case's comment and flags, for messages
}

// wycheproofCases reads every case of the set.
func wycheproofCases(t *testing.T) []wycheproofCase {
	t.Helper()
	var doc struct {
		TestGroups []struct {
			PublicKey struct {
				PK string `json:"pk"`
			} `json:"publicKey"`
			Tests []struct {
				TcID    int      `json:"tcId"`
				Msg     string   `json:"msg"`
				Sig     string   `json:"sig"`
				Result  string   `json:"result"`
				Flags   []string `json:"flags"`
				Comment string   `json:"comment"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	readJSON(t, "testdata/wycheproof-ed25519_test.json", &doc)
	var out []wycheproofCase
	for _, g := range doc.TestGroups {
		pub, _ := hex.DecodeString(g.PublicKey.PK)
		for _, tc := range g.Tests {
			msg, _ := hex.DecodeString(tc.Msg)
			sig, _ := hex.DecodeString(tc.Sig)
			out = append(out, wycheproofCase{tc.TcID, pub, msg, sig, tc.Result == "valid", fmt.Sprintf("%s %v", tc.Comment, tc.Flags)})
		}
	}
	if len(out) != 151 {
		t.Fatalf("%d Wycheproof cases, want 151", len(out))
	}
	return out
}

// Every public key of Wycheproof's EdDSA set is an ordinary key: the set
// varies signatures, and Check must not refuse a key that is good.
func TestWycheproofKeys(t *testing.T) {
	for _, c := range wycheproofCases(t) {
		if err := Check(c.pub); err != nil {
			t.Errorf("tcId %d: Check(%x) = %v", c.tcID, c.pub, err)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCheck(b *testing.B) {
	pub, _, _ := ed25519.GenerateKey(nil)
	for b.Loop() {
		if err := Check(pub); err != nil {
			b.Fatal(err)
		}
	}
}
