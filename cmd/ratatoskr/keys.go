package main

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// readPEM returns the first PEM block of file.
func readPEM(file string) (*pem.Block, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", file)
	}
	return block, nil
}

// readDevicePrivateKey reads a PKCS#8 PEM Ed25519 private key, as keygen
// writes it and as "openssl genpkey -algorithm ed25519" does.
func readDevicePrivateKey(file string) (ed25519.PrivateKey, error) {
	block, err := readPEM(file)
	if err != nil {
		return nil, err
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: PEM block %q, want a PKCS#8 \"PRIVATE KEY\"", file, block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, want an Ed25519 key", file, k)
	}
	return ek, nil
}

// readDevicePublicKey reads an Ed25519 public key from a PEM "PUBLIC KEY"
// file, or the public half of a PKCS#8 private key file.
func readDevicePublicKey(file string) (ed25519.PublicKey, error) {
	block, err := readPEM(file)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%s: a %T, want an Ed25519 key", file, k)
		}
		return ek, nil
	case "PRIVATE KEY":
		k, err := readDevicePrivateKey(file)
		if err != nil {
			return nil, err
		}
		return k.Public().(ed25519.PublicKey), nil
	}
	return nil, fmt.Errorf("%s: PEM block %q, want \"PUBLIC KEY\"", file, block.Type)
}

// readIssuerKey reads a token issuer's private key: PKCS#8 (Ed25519, ECDSA
// or RSA), SEC 1 "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY".
func readIssuerKey(file string) (crypto.PrivateKey, error) {
	block, err := readPEM(file)
	if err != nil {
		return nil, err
	}
	var k crypto.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		err = fmt.Errorf("PEM block %q, want a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return k, nil
}

// writeNew writes data to a file that must not exist yet, with mode perm.
func writeNew(file string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; refusing to overwrite it", file)
		}
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(file)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(file)
		return err
	}
	return nil
}

// readDeviceToken returns the device token from tokenFile or, when it is
// empty, from the environment variable RATATOSKR_TOKEN (read with getenv),
// trimmed; a missing token is a usage error.
func readDeviceToken(getenv func(string) string, tokenFile string) (string, error) {
	tok := getenv("RATATOSKR_TOKEN")
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return "", err
		}
		tok = string(b)
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", usageErrorf("no device token: give -token-file or set RATATOSKR_TOKEN")
	}
	return tok, nil
}
