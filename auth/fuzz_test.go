package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func FuzzParseConfirmationKey(f *testing.F) {
	x := base64.RawURLEncoding.EncodeToString(devicePub())
	for _, seed := range []string{
		`{"jwk":{"kty":"OKP","crv":"Ed25519","x":"` + x + `"}}`,
		`{"jwk":{"kty":"OKP","crv":"Ed25519","x":"` + x + `","d":"` + x + `"}}`,
		`{"jwk":{"kty":"OKP","crv":"X25519","x":"` + x + `"}}`,
		`{"jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}}`,
		`{"jwk":{"kty":"OKP","crv":"Ed25519","x":"` + x[:42] + `"}}`,
		`{"jwk":"x"}`,
		`{"kid":"k"}`,
		`[]`,
		`null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cnf any
		if json.Unmarshal(data, &cnf) != nil {
			return
		}
		key, err := ParseConfirmationKey(cnf)
		if err != nil {
			if key != nil {
				t.Fatalf("key %x returned with error %v", key, err)
			}
			return
		}
		if len(key) != ed25519.PublicKeySize {
			t.Fatalf("accepted a %d-byte key", len(key))
		}
		// One key, one encoding: what was accepted is what we would mint.
		jwk := cnf.(map[string]any)["jwk"].(map[string]any)
		if jwk["x"] != ConfirmationJWK(key)["x"] {
			t.Fatalf("x %q is not the canonical encoding of %x", jwk["x"], key)
		}
		if _, ok := jwk["d"]; ok {
			t.Fatal("accepted a private key")
		}
		again, err := ParseConfirmationKey(ConfirmationClaim(key))
		if err != nil || !again.Equal(key) {
			t.Fatalf("round trip: %x, %v", again, err)
		}
	})
}

func FuzzAuthenticate(f *testing.F) {
	valid, err := MintHS256(testSecret, mintOpts())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(rawToken(map[string]any{"alg": "none"}, baseClaims(), nil))
	f.Add(rawToken(map[string]any{"alg": "HS256", "kid": 1}, baseClaims(), []byte("sig")))
	f.Add(rawToken(map[string]any{"alg": "EdDSA", "crit": []string{"x"}}, baseClaims(), make([]byte, 64)))
	f.Add(valid[:len(valid)/2])
	f.Add("a.b.c")
	f.Add("..")
	f.Add("")

	a, err := NewJWT(WithHMACSecret(testSecret), WithPublicKey(edKey().Public()), WithTimeFunc(fixedClock))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, err := a.Authenticate(context.Background(), token)
		if err != nil {
			if id != nil || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Authenticate(%q) = %v, %v; want nil, ErrInvalidToken", token, id, err)
			}
			return
		}
		if id.UserID == "" || id.DeviceID == "" || len(id.PublicKey) != ed25519.PublicKeySize || id.ExpiresAt.IsZero() {
			t.Fatalf("Authenticate(%q) accepted an incomplete identity %+v", token, id)
		}
		// Anything accepted must carry a real signature from a configured key.
		if _, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return testSecret, nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithoutClaimsValidation()); err != nil {
			if _, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return edKey().Public(), nil },
				jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithoutClaimsValidation()); err != nil {
				t.Fatalf("Authenticate accepted %q, which no configured key signed", token)
			}
		}
	})
}
