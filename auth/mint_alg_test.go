package auth_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/auth"
)

// Mint picks the algorithm from the issuer key's type, and the verifier
// configured with the public half accepts the token; no JWT library is
// needed to mint.
func TestMintPicksTheAlgorithm(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(nil)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	devicePub, _, _ := ed25519.GenerateKey(nil)
	for _, tc := range []struct {
		key  crypto.Signer
		want string
	}{
		{edKey, "EdDSA"}, {p256, "ES256"}, {p384, "ES384"}, {p521, "ES512"}, {rsaKey, "RS256"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if alg, err := auth.SigningAlg(tc.key); err != nil || alg != tc.want {
				t.Fatalf("SigningAlg = %q, %v", alg, err)
			}
			tok, err := auth.Mint(tc.key, auth.MintOptions{UserID: "alice", DeviceID: "phone-1", DevicePublicKey: devicePub, KeyID: "k1"})
			if err != nil {
				t.Fatal(err)
			}
			if alg := headerAlg(t, tok); alg != tc.want {
				t.Fatalf("token alg %q, want %q", alg, tc.want)
			}
			v, err := auth.NewJWT(auth.WithKeyID("k1", tc.key.Public()))
			if err != nil {
				t.Fatal(err)
			}
			id, err := v.Authenticate(context.Background(), tok)
			if err != nil || id.UserID != "alice" || !id.PublicKey.Equal(devicePub) {
				t.Fatalf("Authenticate = %+v, %v", id, err)
			}
		})
	}
	secret := []byte("a-secret-of-at-least-32-bytes-long!!")
	if alg, _ := auth.SigningAlg(secret); alg != "HS256" {
		t.Fatalf("secret: %q", alg)
	}
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, key := range map[string]crypto.PrivateKey{"short secret": []byte("short"), "RSA 1024": weak, "P-224": mustP224(t), "nil": nil, "a string": "key"} {
		if _, err := auth.Mint(key, auth.MintOptions{UserID: "u", DeviceID: "d"}); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
}

func mustP224(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// headerAlg reads "alg" from a compact JWT's header.
func headerAlg(t *testing.T, tok string) string {
	head, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Alg string }
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Alg
}
