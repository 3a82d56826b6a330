package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// speccheckKeys returns the public keys of the "Taming the many EdDSAs"
// cases, by index.
func speccheckKeys(t *testing.T) []ed25519.PublicKey {
	t.Helper()
	b, err := os.ReadFile("../internal/edkey/testdata/speccheck-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		PubKey string `json:"pub_key"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	keys := make([]ed25519.PublicKey, len(cases))
	for i, c := range cases {
		keys[i] = must(hex.DecodeString(c.PubKey))
	}
	return keys
}

func weakCase(i int) bool { return i != 6 && i != 7 }

// A token whose cnf key is small-order, mixed-order or non-canonical is
// refused, wherever the key comes from: the cnf claim or a resolver.
func TestWeakDeviceKeysRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for i, key := range speccheckKeys(t) {
		if err := CheckDeviceKey(key); weakCase(i) != (err != nil) {
			t.Errorf("case %d: CheckDeviceKey = %v", i, err)
		}
		if !weakCase(i) {
			continue
		}
		// Through the cnf claim (minted by hand: Mint refuses weak keys).
		cnf := map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(key)}}
		tok := sign(t, jwt.SigningMethodHS256, testSecret, with(baseClaims(), map[string]any{"cnf": cnf}), nil)
		_, err := newAuth(t, WithHMACSecret(testSecret)).Authenticate(ctx, tok)
		if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, ErrUnacceptableKey) {
			t.Errorf("case %d via cnf: %v, want ErrInvalidToken and ErrUnacceptableKey", i, err)
		}
		if _, err := ParseConfirmationKey(cnf); !errors.Is(err, ErrUnacceptableKey) {
			t.Errorf("case %d: ParseConfirmationKey = %v", i, err)
		}
		// Through a resolver that holds the weak key.
		noCnf := sign(t, jwt.SigningMethodHS256, testSecret, with(baseClaims(), map[string]any{"cnf": nil}), nil)
		r := staticResolver{"user-1/device-1": key}
		_, err = newAuth(t, WithHMACSecret(testSecret), WithDeviceKeyResolver(r)).Authenticate(ctx, noCnf)
		if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, ErrUnacceptableKey) {
			t.Errorf("case %d via resolver: %v", i, err)
		}
		// Mint does not bind a token to it.
		o := mintOpts()
		o.DevicePublicKey = key
		if _, err := MintHS256(testSecret, o); !errors.Is(err, ErrUnacceptableKey) {
			t.Errorf("case %d: MintHS256 = %v", i, err)
		}
		// Nor is it accepted as a token-signing key.
		if _, err := NewJWT(WithPublicKey(key)); err == nil {
			t.Errorf("case %d: NewJWT accepted it as an issuer key", i)
		}
	}
}

// Ordinary keys pass: thousands of random ones, bound by cnf.
func TestRandomDeviceKeysAccepted(t *testing.T) {
	t.Parallel()
	n := 2000
	if testing.Short() {
		n = 200
	}
	for range n {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseConfirmationKey(map[string]any{"jwk": ConfirmationJWK(pub)})
		if err != nil || !got.Equal(pub) {
			t.Fatalf("ParseConfirmationKey(%x) = %x, %v", pub, got, err)
		}
	}
}
