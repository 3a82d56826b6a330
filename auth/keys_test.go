package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwkOf returns the public JWK of key with the given kid and extra members.
func jwkOf(t testing.TB, pub crypto.PublicKey, kid string, extra map[string]any) map[string]any {
	t.Helper()
	var m map[string]any
	switch k := pub.(type) {
	case ed25519.PublicKey:
		m = ConfirmationJWK(k)
	case *ecdsa.PublicKey:
		b, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		n := (len(b) - 1) / 2
		m = map[string]any{"kty": "EC", "crv": k.Curve.Params().Name, "x": b64(b[1 : 1+n]), "y": b64(b[1+n:])}
	case *rsa.PublicKey:
		m = map[string]any{"kty": "RSA", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	default:
		t.Fatalf("jwkOf: %T", pub)
	}
	if kid != "" {
		m["kid"] = kid
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func jwks(t testing.TB, keys ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	ec := ecKeys()
	doc := jwks(t,
		jwkOf(t, edKey().Public(), "ed", nil),
		jwkOf(t, ec["P-256"].Public(), "ec256", map[string]any{"use": "sig", "alg": "ES256"}),
		jwkOf(t, ec["P-384"].Public(), "ec384", nil),
		jwkOf(t, ec["P-521"].Public(), "ec521", map[string]any{"key_ops": []string{"verify"}}),
		jwkOf(t, rsaKey().Public(), "rsa", nil),
		jwkOf(t, rsaKey().Public(), "rsa-ps", map[string]any{"alg": "PS256"}),
		// Skipped: an encryption key, a curve and a key type we do not verify with.
		jwkOf(t, otherEdKey().Public(), "enc", map[string]any{"use": "enc"}),
		map[string]any{"kty": "OKP", "crv": "X25519", "x": b64(make([]byte, 32)), "kid": "x25519"},
		map[string]any{"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA", "kid": "k1"},
	)
	a := newAuth(t, WithJWKS(doc))
	mint := func(m jwt.SigningMethod, key crypto.PrivateKey, kid string) string {
		o := mintOpts()
		o.KeyID = kid
		return mintT(t, m, key, o)
	}
	ok := []struct {
		name  string
		token string
	}{
		{"ed", mint(jwt.SigningMethodEdDSA, edKey(), "ed")},
		{"ec256", mint(jwt.SigningMethodES256, ec["P-256"], "ec256")},
		{"ec384", mint(jwt.SigningMethodES384, ec["P-384"], "ec384")},
		{"ec521", mint(jwt.SigningMethodES512, ec["P-521"], "ec521")},
		{"rsa RS256", mint(jwt.SigningMethodRS256, rsaKey(), "rsa")},
		{"rsa PS512", mint(jwt.SigningMethodPS512, rsaKey(), "rsa")},
		{"rsa-ps PS256", mint(jwt.SigningMethodPS256, rsaKey(), "rsa-ps")},
		{"no kid, found by algorithm", mint(jwt.SigningMethodEdDSA, edKey(), "")},
	}
	for _, tt := range ok {
		if _, err := a.Authenticate(context.Background(), tt.token); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	bad := []struct {
		name  string
		token string
	}{
		{"unknown kid", mint(jwt.SigningMethodEdDSA, edKey(), "nope")},
		{"kid of another key", mint(jwt.SigningMethodES256, ec["P-256"], "ec384")},
		{"kid of a key of another family", mint(jwt.SigningMethodEdDSA, edKey(), "rsa")},
		{"alg restricted by the JWK", mint(jwt.SigningMethodRS256, rsaKey(), "rsa-ps")},
		{"alg restricted by the JWK, no kid", mint(jwt.SigningMethodRS256, rsaKey(), "ec256")},
		{"skipped encryption key", mint(jwt.SigningMethodEdDSA, otherEdKey(), "enc")},
		{"skipped encryption key, no kid", mint(jwt.SigningMethodEdDSA, otherEdKey(), "")},
		{"HS256", mint(jwt.SigningMethodHS256, testSecret, "ed")},
	}
	for _, tt := range bad {
		_, err := a.Authenticate(context.Background(), tt.token)
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		wantInvalid(t, err)
	}
}

func TestKeyIDFallback(t *testing.T) {
	t.Parallel()
	// A kid that matches no named key falls back to keys without an id.
	a := newAuth(t, WithKeyID("old", otherEdKey().Public()), WithPublicKey(edKey().Public()))
	for _, kid := range []string{"", "new", "old"} {
		o := mintOpts()
		o.KeyID = kid
		key := edKey()
		if kid == "old" {
			key = otherEdKey()
		}
		if _, err := a.Authenticate(context.Background(), mintT(t, jwt.SigningMethodEdDSA, key, o)); err != nil {
			t.Errorf("kid %q: %v", kid, err)
		}
	}
	// A kid that matches a named key is verified with that key only.
	o := mintOpts()
	o.KeyID = "old"
	_, err := a.Authenticate(context.Background(), mintT(t, jwt.SigningMethodEdDSA, edKey(), o))
	wantInvalid(t, err)
}

func TestPEM(t *testing.T) {
	t.Parallel()
	ec := ecKeys()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, edKey().Public(), edKey())
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey().PublicKey)})
	bundle := append(append(pkixPEM(t, ec["P-256"].Public()), '\n'), pkcs1...)

	tests := []struct {
		name   string
		pem    []byte
		method jwt.SigningMethod
		priv   crypto.PrivateKey
	}{
		{"certificate", cert, jwt.SigningMethodEdDSA, edKey()},
		{"PKCS #1", pkcs1, jwt.SigningMethodRS384, rsaKey()},
		{"bundle, first", bundle, jwt.SigningMethodES256, ec["P-256"]},
		{"bundle, second", bundle, jwt.SigningMethodPS384, rsaKey()},
	}
	for _, tt := range tests {
		a := newAuth(t, WithPublicKeyPEM(tt.pem))
		if _, err := a.Authenticate(context.Background(), mintT(t, tt.method, tt.priv, mintOpts())); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestNewJWTErrors(t *testing.T) {
	t.Parallel()
	smallRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPrivDER, err := x509.MarshalPKCS8PrivateKey(edKey())
	if err != nil {
		t.Fatal(err)
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edPrivDER})
	edJWK := jwkOf(t, edKey().Public(), "ed", nil)
	rsaJWK := jwkOf(t, rsaKey().Public(), "rsa", nil)
	ecJWK := jwkOf(t, ecKeys()["P-256"].Public(), "ec", nil)

	tests := []struct {
		name string
		opts []Option
		want string // a fragment of the error
	}{
		{"no key", nil, "no verification key"},
		{"only a resolver", []Option{WithDeviceKeyResolver(staticResolver{})}, "no verification key"},
		{"short secret", []Option{WithHMACSecret([]byte("short"))}, "at least 32"},
		{"PEM as secret", []Option{WithHMACSecret(pkixPEM(t, rsaKey().Public()))}, "PEM"},
		{"garbage PEM", []Option{WithPublicKeyPEM([]byte("not pem"))}, "no PEM block"},
		{"private key PEM", []Option{WithPublicKeyPEM(privPEM)}, "public key only"},
		{"broken PEM block", []Option{WithPublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2}}))}, "PUBLIC KEY"},
		{"unknown PEM block", []Option{WithPublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "FOO", Bytes: []byte{1}}))}, "unsupported PEM"},
		{"small RSA", []Option{WithPublicKey(&smallRSA.PublicKey)}, "1024 bits"},
		{"P-224", []Option{WithPublicKey(&p224.PublicKey)}, "P-224"},
		{"bytes as public key", []Option{WithPublicKey(pkixPEM(t, edKey().Public()))}, "not a public key"},
		{"private key", []Option{WithPublicKey(edKey())}, "private key"},
		{"short Ed25519", []Option{WithPublicKey(ed25519.PublicKey{1, 2, 3})}, "3 bytes"},
		{"nil key", []Option{WithPublicKey(nil)}, "unsupported"},
		{"nil ECDSA key", []Option{WithPublicKey((*ecdsa.PublicKey)(nil))}, "nil ECDSA"},
		{"JWKS not JSON", []Option{WithJWKS([]byte("{"))}, "JWKS"},
		{"JWKS empty", []Option{WithJWKS([]byte(`{"keys":[]}`))}, "no usable"},
		{"JWKS only enc keys", []Option{WithJWKS(jwks(t, with(edJWK, map[string]any{"use": "enc"})))}, "no usable"},
		{"JWKS private d", []Option{WithJWKS(jwks(t, with(edJWK, map[string]any{"d": b64(edKey().Seed())})))}, "private"},
		{"JWKS private RSA", []Option{WithJWKS(jwks(t, with(rsaJWK, map[string]any{"p": "AQAB"})))}, "private"},
		{"JWKS bad x", []Option{WithJWKS(jwks(t, with(edJWK, map[string]any{"x": "AAAA"})))}, "x is 3 bytes"},
		{"JWKS alg mismatch", []Option{WithJWKS(jwks(t, with(edJWK, map[string]any{"alg": "RS256"})))}, "RS256"},
		{"JWKS RSA alg mismatch", []Option{WithJWKS(jwks(t, with(rsaJWK, map[string]any{"alg": "ES256"})))}, "ES256"},
		{"JWKS kid not a string", []Option{WithJWKS(jwks(t, with(edJWK, map[string]any{"kid": 3})))}, "kid"},
		{"JWKS EC off curve", []Option{WithJWKS(jwks(t, with(ecJWK, map[string]any{"y": ecJWK["x"]})))}, "JWKS key 0"},
		{"JWKS EC short x", []Option{WithJWKS(jwks(t, with(ecJWK, map[string]any{"x": "AAAA"})))}, "32 bytes"},
		{"JWKS RSA e=1", []Option{WithJWKS(jwks(t, with(rsaJWK, map[string]any{"e": "AQ"})))}, "exponent"},
		{"JWKS RSA e even", []Option{WithJWKS(jwks(t, with(rsaJWK, map[string]any{"e": "AQAA"})))}, "exponent"},
		{"JWKS RSA small n", []Option{WithJWKS(jwks(t, with(rsaJWK, map[string]any{"n": b64(smallRSA.N.Bytes())})))}, "1024 bits"},
		{"JWKS RSA n missing", []Option{WithJWKS(jwks(t, with(rsaJWK, map[string]any{"n": nil})))}, "n is missing"},
		{"empty issuer", []Option{WithHMACSecret(testSecret), WithIssuer("")}, "empty issuer"},
		{"empty audience", []Option{WithHMACSecret(testSecret), WithAudience("")}, "empty audience"},
		{"negative leeway", []Option{WithHMACSecret(testSecret), WithLeeway(-time.Second)}, "negative leeway"},
		{"zero max size", []Option{WithHMACSecret(testSecret), WithMaxTokenSize(0)}, "positive"},
		{"nil resolver", []Option{WithHMACSecret(testSecret), WithDeviceKeyResolver(nil)}, "nil resolver"},
		{"one bad key among good", []Option{WithHMACSecret(testSecret), WithPublicKeyPEM(nil)}, "no PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := NewJWT(tt.opts...)
			if err == nil {
				t.Fatalf("NewJWT succeeded: %+v", a)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestSecretIsCopied(t *testing.T) {
	t.Parallel()
	secret := []byte(string(testSecret))
	a := newAuth(t, WithHMACSecret(secret))
	clear(secret)
	if _, err := a.Authenticate(context.Background(), mintT(t, jwt.SigningMethodHS256, testSecret, mintOpts())); err != nil {
		t.Fatalf("after the caller cleared its slice: %v", err)
	}
}
