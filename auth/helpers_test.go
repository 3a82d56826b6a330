package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testNow is the fixed time of every test clock.
var testNow = time.Unix(1_800_000_000, 0)

func fixedClock() time.Time { return testNow }

// testSecret is a 32-byte HS256 secret.
var testSecret = []byte("ratatoskr-test-secret-0123456789")

// Keys are generated once per test binary (RSA generation is slow under -race).
var (
	rsaKey      = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	otherRSAKey = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	edKey       = sync.OnceValue(func() ed25519.PrivateKey { _, k := must2(ed25519.GenerateKey(rand.Reader)); return k })
	otherEdKey  = sync.OnceValue(func() ed25519.PrivateKey { _, k := must2(ed25519.GenerateKey(rand.Reader)); return k })
	ecKeys      = sync.OnceValue(func() map[string]*ecdsa.PrivateKey {
		return map[string]*ecdsa.PrivateKey{
			"P-256": must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)),
			"P-384": must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)),
			"P-521": must(ecdsa.GenerateKey(elliptic.P521(), rand.Reader)),
		}
	})
	// deviceKey is the device's own Ed25519 key, bound by "cnf".
	deviceKey = sync.OnceValue(func() ed25519.PrivateKey {
		return ed25519.NewKeyFromSeed([]byte("ratatoskr-device-key-seed-32byte"))
	})
)

func devicePub() ed25519.PublicKey { return deviceKey().Public().(ed25519.PublicKey) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

// mintOpts returns the options of a valid token at testNow.
func mintOpts() MintOptions {
	return MintOptions{UserID: "user-1", DeviceID: "device-1", DevicePublicKey: devicePub(), Now: fixedClock}
}

// newAuth returns a verifier on the fixed test clock.
func newAuth(t testing.TB, opts ...Option) *JWT {
	t.Helper()
	a, err := NewJWT(append([]Option{WithTimeFunc(fixedClock)}, opts...)...)
	if err != nil {
		t.Fatalf("NewJWT: %v", err)
	}
	return a
}

func mintT(t testing.TB, method jwt.SigningMethod, key crypto.PrivateKey, o MintOptions) string {
	t.Helper()
	tok, err := MintWith(method, key, o)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

// baseClaims are the claims of a valid token at testNow.
func baseClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":       "user-1",
		"device_id": "device-1",
		"iat":       testNow.Unix(),
		"exp":       testNow.Add(time.Hour).Unix(),
		"cnf":       ConfirmationClaim(devicePub()),
	}
}

// with returns a copy of c with the changes applied; a nil value deletes.
func with(c jwt.MapClaims, changes map[string]any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// sign signs claims with jwt directly, bypassing Mint's checks.
func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("SignedString: %v", err)
	}
	return s
}

// rawToken builds a token by hand from a header, claims and signature.
func rawToken(header, claims any, sig []byte) string {
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// tamper replaces the claims segment of a signed token, keeping its signature.
func tamper(t testing.TB, token string, change map[string]any) string {
	t.Helper()
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	b, err = json.Marshal(with(claims, change))
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func pkixPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// wantInvalid fails unless err refuses the token (ErrInvalidToken, not
// ErrUnavailable).
func wantInvalid(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrInvalidToken", err)
	}
	if errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, must not be ErrUnavailable", err)
	}
}
