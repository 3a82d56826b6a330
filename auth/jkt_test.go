package auth_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/auth"
)

// RFC 8037, appendix A.3: the thumbprint of the appendix's Ed25519 key.
func TestThumbprintRFC8037(t *testing.T) {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got := auth.Thumbprint(x); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("Thumbprint = %s", got)
	}
	if auth.Thumbprint(x[:31]) != "" {
		t.Fatal("a 31-byte key has a thumbprint")
	}
}

func TestParseConfirmation(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	jwk := auth.ConfirmationJWK(pub)
	for _, tc := range []struct {
		name    string
		cnf     any
		key     bool
		jkt     string
		wantErr bool
	}{
		{"jwk", map[string]any{"jwk": jwk}, true, "", false},
		{"jkt", map[string]any{"jkt": auth.Thumbprint(pub)}, false, auth.Thumbprint(pub), false},
		{"both, matching", map[string]any{"jwk": jwk, "jkt": auth.Thumbprint(pub)}, true, auth.Thumbprint(pub), false},
		{"both, differing", map[string]any{"jwk": jwk, "jkt": auth.Thumbprint(other)}, false, "", true},
		{"jkt padded", map[string]any{"jkt": auth.Thumbprint(pub) + "="}, false, "", true},
		{"jkt short", map[string]any{"jkt": "abc"}, false, "", true},
		{"jkt a number", map[string]any{"jkt": 5.0}, false, "", true},
		{"neither", map[string]any{"kid": "k"}, false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := auth.ParseConfirmation(tc.cnf)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr {
				return
			}
			if (c.Key != nil) != tc.key || c.Thumbprint != tc.jkt {
				t.Fatalf("%+v", c)
			}
		})
	}
}

// A jkt token verified with a DeviceKeyResolver: the registered key must
// have the token's thumbprint. Without a resolver the identity carries the
// thumbprint and no key, for the handshake to match.
func TestThumbprintTokens(t *testing.T) {
	secret := []byte("a-secret-of-at-least-32-bytes-long!!")
	pub, _, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	tok, err := auth.MintHS256(secret, auth.MintOptions{UserID: "alice", DeviceID: "phone-1", DevicePublicKey: pub, BindByThumbprint: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := auth.NewJWT(auth.WithHMACSecret(secret))
	id, err := plain.Authenticate(context.Background(), tok)
	if err != nil || id.PublicKey != nil || id.KeyThumbprint != auth.Thumbprint(pub) {
		t.Fatalf("without a resolver: %+v, %v", id, err)
	}
	for name, registered := range map[string]ed25519.PublicKey{"matching": pub, "other": other} {
		v, _ := auth.NewJWT(auth.WithHMACSecret(secret), auth.WithDeviceKeyResolver(auth.DeviceKeyResolverFunc(
			func(context.Context, string, string) (ed25519.PublicKey, error) { return registered, nil })))
		id, err := v.Authenticate(context.Background(), tok)
		switch name {
		case "matching":
			if err != nil || !id.PublicKey.Equal(pub) || id.KeyThumbprint != "" {
				t.Fatalf("%s: %+v, %v", name, id, err)
			}
		case "other":
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("%s: %v, want ErrInvalidToken", name, err)
			}
		}
	}
	if _, err := auth.MintHS256(secret, auth.MintOptions{UserID: "a", DeviceID: "d", BindByThumbprint: true}); err == nil {
		t.Fatal("minted a jkt token without a key")
	}
}
