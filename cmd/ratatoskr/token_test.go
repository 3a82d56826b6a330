package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
)

// jwtPart decodes part i (0 header, 1 claims) of a token.
func jwtPart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestToken(t *testing.T) {
	t.Setenv("RATATOSKR_JWT_SECRET", testSecret)
	base := filepath.Join(t.TempDir(), "device")
	runCLI(t, "", "keygen", "-out", base)
	pub, err := readDevicePublicKey(base + ".pub")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("hs256 from env", func(t *testing.T) {
		code, tok, stderr := runCLI(t, "", "token", "-sub", "alice", "-device", "phone-1", "-device-key", base+".pub",
			"-iss", "https://id.example", "-aud", "a", "-aud", "b")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		a, err := auth.NewJWT(auth.WithHMACSecret([]byte(testSecret)))
		if err != nil {
			t.Fatal(err)
		}
		id, err := a.Authenticate(t.Context(), strings.TrimSpace(tok))
		if err != nil {
			t.Fatalf("server refuses the token: %v", err)
		}
		if id.UserID != "alice" || id.DeviceID != "phone-1" || !id.PublicKey.Equal(pub) {
			t.Errorf("identity %+v", id)
		}
		c := jwtPart(t, tok, 1)
		if c["iss"] != "https://id.example" || len(c["aud"].([]any)) != 2 {
			t.Errorf("claims %v", c)
		}
	})
	t.Run("jkt", func(t *testing.T) {
		_, tok, _ := runCLI(t, "", "token", "-sub", "alice", "-device", "phone-1", "-device-key", base+".pub", "-jkt")
		cnf := jwtPart(t, tok, 1)["cnf"].(map[string]any)
		if cnf["jkt"] != auth.Thumbprint(pub) || cnf["jwk"] != nil {
			t.Errorf("cnf %v", cnf)
		}
	})
	t.Run("secret file", func(t *testing.T) {
		t.Setenv("RATATOSKR_JWT_SECRET", "")
		f := filepath.Join(t.TempDir(), "secret")
		os.WriteFile(f, []byte(testSecret+"\n"), 0o600)
		code, tok, stderr := runCLI(t, "", "token", "-sub", "alice", "-device", "phone-1", "-secret-file", f)
		if code != exitOK || jwtPart(t, tok, 0)["alg"] != "HS256" {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
	t.Run("issuer key", func(t *testing.T) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		f := filepath.Join(t.TempDir(), "issuer.pem")
		os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
		code, tok, stderr := runCLI(t, "", "token", "-sub", "alice", "-device", "phone-1", "-device-key", base+".pub", "-issuer-key", f, "-kid", "k1")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if h := jwtPart(t, tok, 0); h["alg"] != "ES256" || h["kid"] != "k1" {
			t.Errorf("header %v", h)
		}
	})
	t.Run("expired", func(t *testing.T) {
		_, tok, _ := runCLI(t, "", "token", "-sub", "alice", "-device", "phone-1", "-ttl", "-1h")
		c := jwtPart(t, tok, 1)
		if c["exp"].(float64) >= float64(time.Now().Unix()) {
			t.Errorf("not expired: %v", c)
		}
	})
}

func TestTokenRefusals(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, secret string
		args         []string
		want         string
	}{
		{"no secret", "", nil, "RATATOSKR_JWT_SECRET"},
		{"short secret", "short", nil, "at least 32"},
		{"both sources", testSecret, []string{"-secret-file", "a", "-issuer-key", "b"}, "exclude"},
		{"missing key file", testSecret, []string{"-device-key", filepath.Join(dir, "nope.pub")}, "nope.pub"},
		{"jkt without key", testSecret, []string{"-jkt"}, "DevicePublicKey"},
		{"secret as positional", testSecret, []string{"hunter2"}, "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("RATATOSKR_JWT_SECRET", tt.secret)
			args := append([]string{"token", "-sub", "alice", "-device", "phone-1"}, tt.args...)
			code, stdout, stderr := runCLI(t, "", args...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q (want %q)", code, stdout, stderr, tt.want)
			}
		})
	}
}
