package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/ratatoskr-proto/ratatoskr/auth"
)

const keygenHelp = `
usage: ratatoskr keygen [-out NAME] [--json]

Keygen makes a device Ed25519 key pair: NAME.key, the private key (PKCS#8
PEM, mode 0600; keep it on the device), and NAME.pub, the public key (PEM).
It refuses to overwrite either file. It prints the public key (unpadded
base64url), its "cnf" claim ({"jwk": …}, RFC 7800/8037) and its RFC 7638
thumbprint (the "jkt" a token may bind instead).

Examples:

	ratatoskr keygen                       # device.key, device.pub
	ratatoskr keygen -out phone-1 --json   # phone-1.key, phone-1.pub; JSON output
	ratatoskr keygen -out phone-1 --json | jq -r .jkt
`

// keygenResult is keygen's --json output.
type keygenResult struct {
	PrivateKeyFile string         `json:"private_key_file"`
	PublicKeyFile  string         `json:"public_key_file"`
	PublicKey      string         `json:"public_key"` // unpadded base64url
	JWK            map[string]any `json:"jwk"`
	CNF            map[string]any `json:"cnf"`
	JKT            string         `json:"jkt"`
}

func runKeygen(e *env, args []string) error {
	fs := newFlagSet(e, "keygen", keygenHelp)
	out := fs.String("out", "device", "write `NAME`.key and NAME.pub")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected arguments %q", pos)
	}
	keyFile, pubFile := *out+".key", *out+".pub"
	for _, f := range []string{keyFile, pubFile} {
		if _, err := os.Lstat(f); err == nil {
			return usageErrorf("%s already exists; refusing to overwrite it", f)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	if err := writeNew(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	if err := writeNew(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		os.Remove(keyFile)
		return err
	}
	r := keygenResult{
		PrivateKeyFile: keyFile,
		PublicKeyFile:  pubFile,
		PublicKey:      base64.RawURLEncoding.EncodeToString(pub),
		JWK:            auth.ConfirmationJWK(pub),
		CNF:            auth.ConfirmationClaim(pub),
		JKT:            auth.Thumbprint(pub),
	}
	if *asJSON {
		return writeJSON(e, r)
	}
	cnf, err := json.Marshal(r.CNF)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s (private, mode 0600) and %s\n", keyFile, pubFile)
	fmt.Fprintf(e.stdout, "public key: %s\n", r.PublicKey)
	fmt.Fprintf(e.stdout, "cnf:        %s\n", cnf)
	fmt.Fprintf(e.stdout, "jkt:        %s\n", r.JKT)
	return nil
}

// writeJSON prints v as indented JSON on stdout.
func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
