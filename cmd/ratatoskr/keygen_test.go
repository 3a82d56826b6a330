package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/auth"
)

func TestKeygen(t *testing.T) {
	base := filepath.Join(t.TempDir(), "phone")
	code, stdout, stderr := runCLI(t, "", "keygen", "-out", base, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r keygenResult
	decodeJSON(t, stdout, &r)
	fi, err := os.Stat(base + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", fi.Mode().Perm())
	}
	priv, err := readDevicePrivateKey(base + ".key")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := readDevicePublicKey(base + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(priv.Public()) {
		t.Error("device.pub is not the public half of device.key")
	}
	if got := base64.RawURLEncoding.EncodeToString(pub); r.PublicKey != got {
		t.Errorf("public_key %q, want %q", r.PublicKey, got)
	}
	if r.JKT != auth.Thumbprint(pub) {
		t.Errorf("jkt %q, want %q", r.JKT, auth.Thumbprint(pub))
	}
	if k, err := auth.ParseConfirmationKey(r.CNF); err != nil || !k.Equal(pub) {
		t.Errorf("cnf %v does not parse back to the key: %v", r.CNF, err)
	}
}

func TestKeygenHuman(t *testing.T) {
	base := filepath.Join(t.TempDir(), "device")
	code, stdout, stderr := runCLI(t, "", "keygen", "-out", base)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"public key:", `"cnf"`[1:4], `"kty":"OKP"`, "jkt:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestKeygenRefusesToOverwrite(t *testing.T) {
	for _, existing := range []string{".key", ".pub"} {
		t.Run(existing, func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "device")
			if err := os.WriteFile(base+existing, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runCLI(t, "", "keygen", "-out", base)
			if code != exitUsage || !strings.Contains(stderr, "refusing to overwrite") {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
			if b, _ := os.ReadFile(base + existing); string(b) != "precious" {
				t.Error("the existing file was changed")
			}
			other := map[string]string{".key": ".pub", ".pub": ".key"}[existing]
			if _, err := os.Stat(base + other); err == nil {
				t.Errorf("%s was written", other)
			}
		})
	}
}
