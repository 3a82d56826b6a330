package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestSetKeys(t *testing.T) {
	t.Parallel()
	const iss = "https://id.example"
	newSecret := []byte("the-next-secret-of-32-bytes-0000")
	a := newAuth(t, WithHMACSecret(testSecret), WithIssuer(iss))
	tok := func(m jwt.SigningMethod, key any, kid, issuer string) string {
		h := map[string]any{}
		if kid != "" {
			h["kid"] = kid
		}
		return sign(t, m, key, with(baseClaims(), map[string]any{"iss": issuer}), h)
	}
	oldHS := tok(jwt.SigningMethodHS256, testSecret, "", iss)
	newHS := tok(jwt.SigningMethodHS256, newSecret, "", iss)
	ed := tok(jwt.SigningMethodEdDSA, edKey(), "ed", iss)
	wantOK(t, a, oldHS)

	if err := a.SetKeys(WithHMACSecret(newSecret), WithKeyID("ed", edKey().Public())); err != nil {
		t.Fatalf("SetKeys: %v", err)
	}
	_, err := a.Authenticate(context.Background(), oldHS)
	wantInvalid(t, err)
	wantOK(t, a, newHS)
	wantOK(t, a, ed)
	// The issuer check stays.
	_, err = a.Authenticate(context.Background(), tok(jwt.SigningMethodHS256, newSecret, "", "https://evil.example"))
	wantInvalid(t, err)

	// The allow-list follows the keys: without a secret, HS256 is refused
	// before any key is looked for.
	if err := a.SetKeys(WithJWKS(jwks(t, jwkOf(t, edKey().Public(), "ed", nil)))); err != nil {
		t.Fatalf("SetKeys: %v", err)
	}
	_, err = a.Authenticate(context.Background(), newHS)
	wantInvalid(t, err)
	if !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("err = %v, want the algorithm refused", err)
	}
	wantOK(t, a, ed)
}

func TestSetKeysErrors(t *testing.T) {
	t.Parallel()
	a := newAuth(t, WithHMACSecret(testSecret))
	token := sign(t, jwt.SigningMethodHS256, testSecret, baseClaims(), nil)
	for _, tt := range []struct {
		name string
		opts []Option
		want string
	}{
		{"no key", nil, "no verification key"},
		{"issuer", []Option{WithHMACSecret(testSecret), WithIssuer("https://id.example")}, "not WithIssuer"},
		{"several settings", []Option{WithLeeway(0), WithTimeFunc(fixedClock), WithLeeway(0)}, "not WithLeeway, WithTimeFunc"},
		{"resolver", []Option{WithDeviceKeyResolver(staticResolver{})}, "WithDeviceKeyResolver"},
		{"remote JWKS", []Option{WithRemoteJWKS("https://id.example/jwks", nil)}, "WithRemoteJWKS"},
		{"short secret", []Option{WithHMACSecret([]byte("short"))}, "at least 32"},
		{"one bad key among good", []Option{WithPublicKey(edKey().Public()), WithPublicKeyPEM(nil)}, "no PEM block"},
	} {
		if err := a.SetKeys(tt.opts...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
		wantOK(t, a, token) // the keys in use did not change
	}
}

// TestSetKeysConcurrent rotates keys under concurrent handshakes (run it
// with -race): a key present in every set always verifies, a key present in
// some sets verifies or is refused cleanly, and a removed key is refused.
func TestSetKeysConcurrent(t *testing.T) {
	t.Parallel()
	kept := WithKeyID("kept", edKey().Public())
	rotated := WithKeyID("rotated", otherEdKey().Public())
	tokKept := kidToken(t, jwt.SigningMethodEdDSA, edKey(), "kept")
	tokRotated := kidToken(t, jwt.SigningMethodEdDSA, otherEdKey(), "rotated")
	tokHS := kidToken(t, jwt.SigningMethodHS256, testSecret, "")
	a := newAuth(t, kept)

	var stop atomic.Bool
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				if _, err := a.Authenticate(context.Background(), tokKept); err != nil {
					t.Errorf("a key in every set: %v", err)
					return
				}
				for _, tok := range []string{tokRotated, tokHS} {
					_, err := a.Authenticate(context.Background(), tok)
					if err == nil {
						accepted.Add(1)
					} else if !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrUnavailable) {
						t.Errorf("a key in some sets: %v", err)
						return
					}
				}
			}
		})
	}
	sets := [][]Option{{kept}, {kept, rotated}, {kept, WithHMACSecret(testSecret)}, {rotated, kept, WithHMACSecret(testSecret)}}
	for i := range 400 {
		if err := a.SetKeys(sets[i%len(sets)]...); err != nil {
			t.Errorf("SetKeys: %v", err)
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("%d handshakes with a rotated key accepted", accepted.Load())

	if err := a.SetKeys(WithKeyID("rotated", otherEdKey().Public())); err != nil {
		t.Fatal(err)
	}
	_, err := a.Authenticate(context.Background(), tokKept)
	wantInvalid(t, err)
	wantOK(t, a, tokRotated)
}

// TestSetKeysDoesNotAlias checks that SetKeys copies what it is given, as
// NewJWT does.
func TestSetKeysDoesNotAlias(t *testing.T) {
	t.Parallel()
	a := newAuth(t, WithHMACSecret(testSecret))
	secret := []byte(string(testSecret))
	pub := ed25519.PublicKey(append([]byte(nil), edKey().Public().(ed25519.PublicKey)...))
	if err := a.SetKeys(WithHMACSecret(secret), WithPublicKey(pub)); err != nil {
		t.Fatal(err)
	}
	clear(secret)
	clear(pub)
	wantOK(t, a, kidToken(t, jwt.SigningMethodHS256, testSecret, ""))
	wantOK(t, a, kidToken(t, jwt.SigningMethodEdDSA, edKey(), ""))
}
