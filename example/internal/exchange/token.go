package exchange

import (
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/ratatoskr-proto/ratatoskr/auth"
)

// mint returns the device token for pub and the algorithm it is signed
// with. In a real deployment the platform's identity service mints it
// after the user logs in; the device only ever sees the token.
func mint(cfg Config, pub ed25519.PublicKey) (token, alg string, err error) {
	o := auth.MintOptions{
		UserID:          cfg.UserID,
		DeviceID:        cfg.DeviceID,
		DevicePublicKey: pub,
		Issuer:          cfg.Issuer,
		TTL:             TokenTTL,
	}
	if cfg.Audience != "" {
		o.Audience = []string{cfg.Audience}
	}
	if cfg.SigningKey == nil {
		if len(cfg.Secret) == 0 {
			return "", "", errors.New("no JWT secret or signing key")
		}
		token, err = auth.MintHS256(cfg.Secret, o)
		return token, "HS256", err
	}
	if alg, err = auth.SigningAlg(cfg.SigningKey); err != nil {
		return "", "", err
	}
	token, err = auth.Mint(cfg.SigningKey, o)
	return token, alg, err
}

// ParseSigningKey parses an issuer's private key from PEM: "PRIVATE KEY"
// (PKCS #8, as `openssl genpkey` writes), "EC PRIVATE KEY" or "RSA PRIVATE
// KEY". The key must be Ed25519, ECDSA or RSA.
func ParseSigningKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("exchange: no PEM block in the signing key")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("exchange: PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("exchange: parsing the signing key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("exchange: unsupported signing key type %T", key)
	}
	if _, err := auth.SigningAlg(signer); err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	return signer, nil
}
