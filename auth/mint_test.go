package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestMintClaims(t *testing.T) {
	t.Parallel()
	o := mintOpts()
	o.Issuer = "https://id.example"
	o.Audience = []string{"ratatoskr"}
	o.TTL = 10 * time.Minute
	o.KeyID = "k1"
	o.Extra = map[string]any{"scope": "nornen"}
	tok, err := MintHS256(testSecret, o)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	var header, claims map[string]any
	for i, v := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	if header["alg"] != "HS256" || header["kid"] != "k1" {
		t.Errorf("header = %v", header)
	}
	want := map[string]any{
		"sub": "user-1", "device_id": "device-1", "iss": "https://id.example", "scope": "nornen",
		"iat": float64(testNow.Unix()), "exp": float64(testNow.Add(10 * time.Minute).Unix()),
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != "ratatoskr" {
		t.Errorf("aud = %v", claims["aud"])
	}
	if jti, _ := claims["jti"].(string); len(jti) < 20 {
		t.Errorf("jti = %v, want a random string", claims["jti"])
	}
	if k, err := ParseConfirmationKey(claims["cnf"]); err != nil || !k.Equal(devicePub()) {
		t.Errorf("cnf = %v (%v)", claims["cnf"], err)
	}

	a := newAuth(t, WithHMACSecret(testSecret), WithIssuer("https://id.example"), WithAudience("ratatoskr"))
	if _, err := a.Authenticate(context.Background(), tok); err != nil {
		t.Errorf("Authenticate: %v", err)
	}
}

func TestMintUniqueJTI(t *testing.T) {
	t.Parallel()
	seen := map[any]bool{}
	a := newAuth(t, WithHMACSecret(testSecret))
	for range 20 {
		id, err := a.Authenticate(context.Background(), mintT(t, jwt.SigningMethodHS256, testSecret, mintOpts()))
		if err != nil {
			t.Fatal(err)
		}
		if seen[id.Claims["jti"]] {
			t.Fatalf("jti %v repeated", id.Claims["jti"])
		}
		seen[id.Claims["jti"]] = true
	}
}

func TestMintErrors(t *testing.T) {
	t.Parallel()
	ok := mintOpts()
	change := func(f func(*MintOptions)) MintOptions { o := ok; f(&o); return o }
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		o      MintOptions
	}{
		{"no user", jwt.SigningMethodHS256, testSecret, change(func(o *MintOptions) { o.UserID = "" })},
		{"no device", jwt.SigningMethodHS256, testSecret, change(func(o *MintOptions) { o.DeviceID = "" })},
		{"negative TTL", jwt.SigningMethodHS256, testSecret, change(func(o *MintOptions) { o.TTL = -time.Second })},
		{"short device key", jwt.SigningMethodHS256, testSecret, change(func(o *MintOptions) { o.DevicePublicKey = make(ed25519.PublicKey, 31) })},
		{"reserved extra", jwt.SigningMethodHS256, testSecret, change(func(o *MintOptions) { o.Extra = map[string]any{"exp": 1} })},
		{"alg none", jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, ok},
		{"nil method", nil, testSecret, ok},
		{"nil key", jwt.SigningMethodEdDSA, nil, ok},
		{"wrong key type", jwt.SigningMethodEdDSA, testSecret, ok},
	}
	for _, tt := range tests {
		if tok, err := MintWith(tt.method, tt.key, tt.o); err == nil {
			t.Errorf("%s: minted %s", tt.name, tok)
		}
	}
	if _, err := MintHS256([]byte("short"), ok); err == nil {
		t.Error("MintHS256 accepted a short secret")
	}
}
