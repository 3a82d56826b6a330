package auth

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestAuthenticateKeyTypes(t *testing.T) {
	t.Parallel()
	ec := ecKeys()
	tests := []struct {
		name   string
		method jwt.SigningMethod
		priv   crypto.PrivateKey
		opt    Option
	}{
		{"HS256", jwt.SigningMethodHS256, testSecret, WithHMACSecret(testSecret)},
		{"EdDSA", jwt.SigningMethodEdDSA, edKey(), WithPublicKeyPEM(pkixPEM(t, edKey().Public()))},
		{"ES256", jwt.SigningMethodES256, ec["P-256"], WithPublicKeyPEM(pkixPEM(t, ec["P-256"].Public()))},
		{"ES384", jwt.SigningMethodES384, ec["P-384"], WithPublicKey(ec["P-384"].Public())},
		{"ES512", jwt.SigningMethodES512, ec["P-521"], WithPublicKey(ec["P-521"].Public())},
		{"RS256", jwt.SigningMethodRS256, rsaKey(), WithPublicKeyPEM(pkixPEM(t, rsaKey().Public()))},
		{"RS512", jwt.SigningMethodRS512, rsaKey(), WithPublicKey(rsaKey().Public())},
		{"PS256", jwt.SigningMethodPS256, rsaKey(), WithPublicKey(rsaKey().Public())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAuth(t, tt.opt)
			o := mintOpts()
			o.Extra = map[string]any{"scope": "payments"}
			id, err := a.Authenticate(context.Background(), mintT(t, tt.method, tt.priv, o))
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if id.UserID != "user-1" || id.DeviceID != "device-1" {
				t.Errorf("identity = %q/%q, want user-1/device-1", id.UserID, id.DeviceID)
			}
			if !id.PublicKey.Equal(devicePub()) {
				t.Errorf("PublicKey = %x, want %x", id.PublicKey, devicePub())
			}
			if want := testNow.Add(DefaultTTL); !id.ExpiresAt.Equal(want) {
				t.Errorf("ExpiresAt = %v, want %v", id.ExpiresAt, want)
			}
			if id.Claims["scope"] != "payments" || id.Claims["jti"] == nil {
				t.Errorf("Claims = %v, want scope and jti", id.Claims)
			}
		})
	}
}

func TestAuthenticateRefuses(t *testing.T) {
	t.Parallel()
	rsaPEM := pkixPEM(t, rsaKey().Public())
	edPub := edKey().Public().(ed25519.PublicKey)
	edPEM := pkixPEM(t, edPub)
	hs := newAuth(t, WithHMACSecret(testSecret))
	valid := sign(t, jwt.SigningMethodHS256, testSecret, baseClaims(), nil)
	hsClaims := func(change map[string]any) string {
		return sign(t, jwt.SigningMethodHS256, testSecret, with(baseClaims(), change), nil)
	}
	big := mintOpts()
	big.Extra = map[string]any{"pad": strings.Repeat("a", DefaultMaxTokenSize)}

	tests := []struct {
		name    string
		a       *JWT
		token   string
		wantJWT error // optional: a golang-jwt error expected in the chain
	}{
		{"alg none", hs, rawToken(map[string]any{"alg": "none", "typ": "JWT"}, baseClaims(), nil), jwt.ErrTokenSignatureInvalid},
		{"alg None", hs, rawToken(map[string]any{"alg": "None"}, baseClaims(), nil), jwt.ErrTokenUnverifiable},
		{"alg none with signature", hs, rawToken(map[string]any{"alg": "none"}, baseClaims(), []byte("sig")), nil},
		{"alg missing", hs, rawToken(map[string]any{"typ": "JWT"}, baseClaims(), nil), nil},
		{"HS256 with RSA PEM as secret", newAuth(t, WithPublicKeyPEM(rsaPEM)),
			sign(t, jwt.SigningMethodHS256, rsaPEM, baseClaims(), nil), jwt.ErrTokenSignatureInvalid},
		{"HS256 with RSA PEM as secret, secret also configured", newAuth(t, WithPublicKeyPEM(rsaPEM), WithHMACSecret(testSecret)),
			sign(t, jwt.SigningMethodHS256, rsaPEM, baseClaims(), nil), jwt.ErrTokenSignatureInvalid},
		{"HS256 with Ed25519 key bytes as secret", newAuth(t, WithPublicKey(edPub)),
			sign(t, jwt.SigningMethodHS256, []byte(edPub), baseClaims(), nil), jwt.ErrTokenSignatureInvalid},
		{"HS256 with Ed25519 PEM as secret", newAuth(t, WithPublicKeyPEM(edPEM)),
			sign(t, jwt.SigningMethodHS256, edPEM, baseClaims(), nil), jwt.ErrTokenSignatureInvalid},
		{"EdDSA against RSA verifier", newAuth(t, WithPublicKeyPEM(rsaPEM)),
			sign(t, jwt.SigningMethodEdDSA, edKey(), baseClaims(), nil), jwt.ErrTokenSignatureInvalid},
		{"embedded jwk header ignored", newAuth(t, WithPublicKey(edPub)),
			sign(t, jwt.SigningMethodEdDSA, otherEdKey(), baseClaims(), map[string]any{"jwk": ConfirmationJWK(otherEdKey().Public().(ed25519.PublicKey))}), jwt.ErrTokenSignatureInvalid},
		{"crit header", hs, sign(t, jwt.SigningMethodHS256, testSecret, baseClaims(), map[string]any{"crit": []string{"exp"}}), jwt.ErrTokenUnverifiable},
		{"kid not a string", hs, sign(t, jwt.SigningMethodHS256, testSecret, baseClaims(), map[string]any{"kid": 7}), jwt.ErrTokenUnverifiable},
		{"expired", hs, hsClaims(map[string]any{"exp": testNow.Add(-time.Hour).Unix()}), jwt.ErrTokenExpired},
		{"nbf in the future", hs, hsClaims(map[string]any{"nbf": testNow.Add(time.Minute).Unix()}), jwt.ErrTokenNotValidYet},
		{"iat in the future", hs, hsClaims(map[string]any{"iat": testNow.Add(time.Minute).Unix()}), jwt.ErrTokenUsedBeforeIssued},
		{"exp missing", hs, hsClaims(map[string]any{"exp": nil}), jwt.ErrTokenRequiredClaimMissing},
		{"exp zero", hs, hsClaims(map[string]any{"exp": 0}), jwt.ErrTokenRequiredClaimMissing},
		{"exp a string", hs, hsClaims(map[string]any{"exp": "tomorrow"}), jwt.ErrInvalidType},
		{"sub missing", hs, hsClaims(map[string]any{"sub": nil}), jwt.ErrTokenRequiredClaimMissing},
		{"sub empty", hs, hsClaims(map[string]any{"sub": ""}), nil},
		{"sub a number", hs, hsClaims(map[string]any{"sub": 42}), nil},
		{"device_id missing", hs, hsClaims(map[string]any{"device_id": nil}), jwt.ErrTokenRequiredClaimMissing},
		{"device_id empty", hs, hsClaims(map[string]any{"device_id": ""}), nil},
		{"device_id an object", hs, hsClaims(map[string]any{"device_id": map[string]any{}}), nil},
		{"signed by another secret", hs,
			sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-00"), baseClaims(), nil), jwt.ErrTokenSignatureInvalid},
		{"signed by another Ed25519 key", newAuth(t, WithPublicKey(edPub)),
			sign(t, jwt.SigningMethodEdDSA, otherEdKey(), baseClaims(), nil), jwt.ErrTokenSignatureInvalid},
		{"signed by another RSA key", newAuth(t, WithPublicKeyPEM(rsaPEM)),
			sign(t, jwt.SigningMethodRS256, otherRSAKey(), baseClaims(), nil), jwt.ErrTokenSignatureInvalid},
		{"tampered payload", hs, tamper(t, valid, map[string]any{"sub": "admin"}), jwt.ErrTokenSignatureInvalid},
		{"tampered signature", hs, valid[:len(valid)-2] + "AA", jwt.ErrTokenSignatureInvalid},
		{"oversized", hs, mintT(t, jwt.SigningMethodHS256, testSecret, big), nil},
		{"garbage", hs, "not a token", jwt.ErrTokenMalformed},
		{"garbage with dots", hs, "a.b.c", jwt.ErrTokenMalformed},
		{"four segments", hs, valid + ".x", jwt.ErrTokenMalformed},
		{"padded segments", hs, strings.Replace(valid, ".", "==.", 1), jwt.ErrTokenMalformed},
		{"empty", hs, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := tt.a.Authenticate(context.Background(), tt.token)
			if id != nil {
				t.Errorf("identity = %+v, want nil", id)
			}
			wantInvalid(t, err)
			if tt.wantJWT != nil && !errors.Is(err, tt.wantJWT) {
				t.Errorf("err = %v, want %v in the chain", err, tt.wantJWT)
			}
		})
	}
}

func TestAuthenticateIssuerAudience(t *testing.T) {
	t.Parallel()
	a := newAuth(t, WithHMACSecret(testSecret), WithIssuer("https://id.example"),
		WithAudience("ratatoskr"), WithAudience("ratatoskr-staging"))
	good := with(baseClaims(), map[string]any{"iss": "https://id.example", "aud": "ratatoskr"})
	tests := []struct {
		name    string
		change  map[string]any
		wantErr error
	}{
		{"valid", nil, nil},
		{"second audience", map[string]any{"aud": []string{"other", "ratatoskr-staging"}}, nil},
		{"wrong iss", map[string]any{"iss": "https://evil.example"}, jwt.ErrTokenInvalidIssuer},
		{"iss missing", map[string]any{"iss": nil}, jwt.ErrTokenRequiredClaimMissing},
		{"wrong aud", map[string]any{"aud": "other-service"}, jwt.ErrTokenInvalidAudience},
		{"aud missing", map[string]any{"aud": nil}, jwt.ErrTokenRequiredClaimMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := a.Authenticate(context.Background(), sign(t, jwt.SigningMethodHS256, testSecret, with(good, tt.change), nil))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				return
			}
			wantInvalid(t, err)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v in the chain", err, tt.wantErr)
			}
		})
	}

	// Without WithIssuer/WithAudience, iss and aud are not checked.
	if _, err := newAuth(t, WithHMACSecret(testSecret)).Authenticate(context.Background(),
		sign(t, jwt.SigningMethodHS256, testSecret, with(good, map[string]any{"iss": "anyone", "aud": "anything"}), nil)); err != nil {
		t.Errorf("unconfigured iss/aud: %v", err)
	}
}

func TestAuthenticateLeeway(t *testing.T) {
	t.Parallel()
	var now time.Time // set before each call; the subtests are sequential
	clock := func() time.Time { return now }
	tok := sign(t, jwt.SigningMethodHS256, testSecret, baseClaims(), nil)
	exp := testNow.Add(time.Hour)
	nbfTok := sign(t, jwt.SigningMethodHS256, testSecret, with(baseClaims(), map[string]any{"nbf": testNow.Unix()}), nil)

	tests := []struct {
		name   string
		leeway *time.Duration
		token  string
		at     time.Time
		ok     bool
	}{
		{"just before exp", nil, tok, exp.Add(-time.Second), true},
		{"expired 1s ago, default leeway", nil, tok, exp.Add(time.Second), true},
		{"expired at the leeway edge", nil, tok, exp.Add(DefaultLeeway), false},
		{"expired beyond default leeway", nil, tok, exp.Add(DefaultLeeway + time.Second), false},
		{"expired 1s ago, no leeway", ptr(time.Duration(0)), tok, exp.Add(time.Second), false},
		{"expired 1m ago, 2m leeway", ptr(2 * time.Minute), tok, exp.Add(time.Minute), true},
		{"nbf 1s ahead, default leeway", nil, nbfTok, testNow.Add(-time.Second), true},
		{"nbf beyond leeway", nil, nbfTok, testNow.Add(-DefaultLeeway - time.Second), false},
		{"nbf 1s ahead, no leeway", ptr(time.Duration(0)), nbfTok, testNow.Add(-time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := []Option{WithHMACSecret(testSecret), WithTimeFunc(clock)}
			if tt.leeway != nil {
				opts = append(opts, WithLeeway(*tt.leeway))
			}
			a, err := NewJWT(opts...)
			if err != nil {
				t.Fatal(err)
			}
			now = tt.at
			_, err = a.Authenticate(context.Background(), tt.token)
			if tt.ok && err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if !tt.ok {
				wantInvalid(t, err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestAuthenticateMaxTokenSize(t *testing.T) {
	t.Parallel()
	o := mintOpts()
	o.Extra = map[string]any{"pad": strings.Repeat("a", DefaultMaxTokenSize)}
	tok := mintT(t, jwt.SigningMethodHS256, testSecret, o)
	if _, err := newAuth(t, WithHMACSecret(testSecret)).Authenticate(context.Background(), tok); !strings.Contains(fmtErr(err), "limit") {
		t.Errorf("default limit: err = %v, want a size refusal", err)
	}
	if _, err := newAuth(t, WithHMACSecret(testSecret), WithMaxTokenSize(2*DefaultMaxTokenSize)).Authenticate(context.Background(), tok); err != nil {
		t.Errorf("raised limit: %v", err)
	}
	small := newAuth(t, WithHMACSecret(testSecret), WithMaxTokenSize(100))
	_, err := small.Authenticate(context.Background(), mintT(t, jwt.SigningMethodHS256, testSecret, mintOpts()))
	wantInvalid(t, err)
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestAuthenticateMalformedCnf(t *testing.T) {
	t.Parallel()
	a := newAuth(t, WithHMACSecret(testSecret))
	good := ConfirmationJWK(devicePub())
	jwk := func(change map[string]any) map[string]any {
		return map[string]any{"jwk": map[string]any(with(good, change))}
	}
	tests := []struct {
		name string
		cnf  any // nil: claim absent
	}{
		{"missing", nil},
		{"null", jsonNull{}},
		{"not an object", "not-an-object"},
		{"array", []any{good}},
		{"jwk missing", map[string]any{"kid": "device-1"}},
		{"jwk not an object", map[string]any{"jwk": "x"}},
		{"jwk is the bare key", good},
		{"kty RSA", jwk(map[string]any{"kty": "RSA"})},
		{"kty missing", jwk(map[string]any{"kty": nil})},
		{"crv X25519", jwk(map[string]any{"crv": "X25519"})},
		{"crv missing", jwk(map[string]any{"crv": nil})},
		{"x missing", jwk(map[string]any{"x": nil})},
		{"x not a string", jwk(map[string]any{"x": 12})},
		{"x bad base64", jwk(map[string]any{"x": "!!not base64!!"})},
		{"x standard base64", jwk(map[string]any{"x": "+/" + good["x"].(string)[2:]})},
		{"x non-canonical", jwk(map[string]any{"x": nonCanonical(good["x"].(string))})},
		{"x with a line break", jwk(map[string]any{"x": good["x"].(string)[:20] + "\n" + good["x"].(string)[20:]})},
		{"x padded", jwk(map[string]any{"x": good["x"].(string) + "="})},
		{"x 31 bytes", jwk(map[string]any{"x": b64(make([]byte, 31))})},
		{"x 33 bytes", jwk(map[string]any{"x": b64(make([]byte, 33))})},
		{"x empty", jwk(map[string]any{"x": ""})},
		{"d present", jwk(map[string]any{"d": b64(deviceKey().Seed())})},
		{"alg RS256", jwk(map[string]any{"alg": "RS256"})},
		{"use enc", jwk(map[string]any{"use": "enc"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			claims := with(baseClaims(), map[string]any{"cnf": nil})
			switch tt.cnf.(type) {
			case nil:
			case jsonNull:
				claims["cnf"] = nil
			default:
				claims["cnf"] = tt.cnf
			}
			_, err := a.Authenticate(context.Background(), sign(t, jwt.SigningMethodHS256, testSecret, claims, nil))
			wantInvalid(t, err)
		})
	}
}

// jsonNull marks a claim that is present with the value null.
type jsonNull struct{}

// nonCanonical flips an unused low bit of the last base64url character, which
// lenient decoders ignore.
func nonCanonical(x string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, x[len(x)-1])
	return x[:len(x)-1] + string(alphabet[i^1])
}
