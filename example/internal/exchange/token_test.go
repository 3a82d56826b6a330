package exchange_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/example/internal/exchange"
)

func TestParseSigningKey(t *testing.T) {
	_, edKey, _ := ed25519.GenerateKey(nil)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	weakRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	pubDER, _ := x509.MarshalPKIXPublicKey(ecKey.Public())

	for _, tc := range []struct {
		name    string
		pem     []byte
		wantErr string
	}{
		{"Ed25519 PKCS #8", pkcs8(edKey), ""},
		{"ECDSA PKCS #8", pkcs8(ecKey), ""},
		{"ECDSA SEC 1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), ""},
		{"RSA PKCS #1", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}), ""},
		{"RSA under 2048 bits", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(weakRSA)}), "at least 2048"},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), "not a private key"},
		{"not PEM", []byte("hunter2"), "no PEM block"},
		{"corrupt", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "parsing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := exchange.ParseSigningKey(tc.pem)
			switch {
			case tc.wantErr == "" && (err != nil || key == nil):
				t.Fatalf("ParseSigningKey: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("ParseSigningKey: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRunNeedsConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  exchange.Config
		want string
	}{
		{"no URL", exchange.Config{UserID: "alice", DeviceID: "phone-1", Secret: make([]byte, 32)}, "required"},
		{"no credentials", exchange.Config{URL: "ws://127.0.0.1:1/ratatoskr", UserID: "alice", DeviceID: "phone-1"}, "no JWT secret"},
		{"short secret", exchange.Config{URL: "ws://127.0.0.1:1/ratatoskr", UserID: "alice", DeviceID: "phone-1", Secret: []byte("short")}, "at least 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := exchange.Run(t.Context(), tc.cfg, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
