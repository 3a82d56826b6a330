package main

import (
	"bytes"
	"crypto"
	"fmt"
	"os"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
)

const tokenHelp = `
usage: ratatoskr token -sub USER -device DEVICE [-device-key FILE] [-ttl 1h]
                       [-iss ISSUER] [-aud AUDIENCE]... [-kid KID] [-jkt]
                       [-secret-file FILE | -issuer-key FILE]

Token mints a development device JWT and prints it on stdout. It carries
"sub", "device_id", "iat", "exp", a random "jti", and "cnf" binding the
device key of -device-key (a PEM public key, or a private key file, whose
public half is used): the key itself ({"jwk": …}), or with -jkt its RFC 7638
thumbprint ({"jkt": …}). Without -device-key there is no "cnf", for servers
that resolve device keys themselves.

It signs with HS256 and the secret in -secret-file or, without it, in the
environment variable RATATOSKR_JWT_SECRET (at least 32 bytes; a trailing
newline in the file is ignored), or with the issuer's private key in
-issuer-key (PEM: Ed25519 signs EdDSA, ECDSA ES256/ES384/ES512 by its curve,
RSA RS256). Secrets are never taken from a flag's value.

A negative -ttl mints a token that has already expired, to test refusals.

Production tokens come from an identity provider after login: this command
is for development and tests.

Examples:

	export RATATOSKR_JWT_SECRET=$(openssl rand -base64 48)
	ratatoskr token -sub alice -device phone-1 -device-key device.pub > tok
	ratatoskr token -sub alice -device phone-1 -device-key device.pub -jkt -ttl 10m
	ratatoskr token -sub alice -device phone-1 -device-key device.pub \
	    -issuer-key issuer.pem -kid 2024-01 -iss https://id.example.com -aud ratatoskr
	ratatoskr token -sub alice -device phone-1 -device-key device.pub -ttl -1h   # expired
`

func runToken(e *env, args []string) error {
	fs := newFlagSet(e, "token", tokenHelp)
	sub := fs.String("sub", "", "user id, the \"sub\" claim (required)")
	device := fs.String("device", "", "device id, the \"device_id\" claim (required)")
	deviceKey := fs.String("device-key", "", "PEM `FILE` with the device's Ed25519 public key (or its private key), bound in \"cnf\"")
	jkt := fs.Bool("jkt", false, "bind the device key by its thumbprint (\"cnf\": {\"jkt\": …}) instead of the key")
	ttl := fs.Duration("ttl", auth.DefaultTTL, "lifetime from \"iat\" to \"exp\"; negative: already expired")
	iss := fs.String("iss", "", "the \"iss\" claim (default: none)")
	var aud stringList
	fs.Var(&aud, "aud", "an \"aud\" value (repeatable; default: none)")
	kid := fs.String("kid", "", "the \"kid\" header (default: none)")
	secretFile := fs.String("secret-file", "", "`FILE` holding the HS256 secret (default: env RATATOSKR_JWT_SECRET)")
	issuerKey := fs.String("issuer-key", "", "PEM `FILE` with the issuer's Ed25519, ECDSA or RSA private key")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usageErrorf("unexpected arguments %q", pos)
	case *sub == "" || *device == "":
		return usageErrorf("-sub and -device are required")
	case *secretFile != "" && *issuerKey != "":
		return usageErrorf("-secret-file and -issuer-key exclude each other")
	}
	key, err := signingKey(e, *secretFile, *issuerKey)
	if err != nil {
		return err
	}
	o := auth.MintOptions{
		UserID:           *sub,
		DeviceID:         *device,
		BindByThumbprint: *jkt,
		KeyID:            *kid,
		Issuer:           *iss,
		Audience:         aud,
		TTL:              *ttl,
	}
	if *ttl < 0 {
		// Issued 2|ttl| ago, expired |ttl| ago.
		d := *ttl
		o.TTL = -d
		o.Now = func() time.Time { return time.Now().Add(2 * d) }
	}
	if *deviceKey != "" {
		pub, err := readDevicePublicKey(*deviceKey)
		if err != nil {
			return err
		}
		o.DevicePublicKey = pub
	}
	tok, err := auth.Mint(key, o)
	if err != nil {
		return usageErrorf("%w", err)
	}
	fmt.Fprintln(e.stdout, tok)
	return nil
}

// signingKey returns the issuer key, or the HMAC secret from secretFile or
// the environment.
func signingKey(e *env, secretFile, issuerKey string) (crypto.PrivateKey, error) {
	if issuerKey != "" {
		return readIssuerKey(issuerKey)
	}
	var secret []byte
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, err
		}
		secret = bytes.TrimRight(b, "\r\n")
	} else {
		secret = []byte(e.getenv("RATATOSKR_JWT_SECRET"))
	}
	if len(secret) == 0 {
		return nil, usageErrorf("no signing key: set RATATOSKR_JWT_SECRET, or give -secret-file or -issuer-key")
	}
	if len(secret) < auth.MinHMACSecretSize {
		return nil, usageErrorf("the HS256 secret is %d bytes, want at least %d", len(secret), auth.MinHMACSecretSize)
	}
	return secret, nil
}
