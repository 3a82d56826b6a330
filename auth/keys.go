package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/ratatoskr-proto/ratatoskr/internal/edkey"
)

// MinHMACSecretSize is the shortest HS256 secret, in bytes, that NewJWT and
// MintHS256 accept.
const MinHMACSecretSize = 32

// minRSABits is the smallest RSA modulus accepted for verification.
const minRSABits = 2048

// verifyKey is one configured verification key and the algorithms it may
// verify. The algorithms follow from the key's type alone, so a key is never
// handed to another algorithm family (no HS256 with a public key as secret).
type verifyKey struct {
	kid  string // "" when the key has no id
	algs []string
	key  any // []byte, ed25519.PublicKey, *ecdsa.PublicKey or *rsa.PublicKey
}

var (
	algsHMAC  = []string{"HS256"}
	algsEdDSA = []string{"EdDSA"}
	algsRSA   = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)

func newSecretKey(secret []byte) (verifyKey, error) {
	if len(secret) < MinHMACSecretSize {
		return verifyKey{}, fmt.Errorf("auth: HMAC secret is %d bytes, want at least %d", len(secret), MinHMACSecretSize)
	}
	if bytes.HasPrefix(bytes.TrimSpace(secret), []byte("-----BEGIN")) {
		// A PEM public key used as an HMAC secret lets anyone who knows the
		// public key sign tokens.
		return verifyKey{}, errors.New("auth: HMAC secret looks like a PEM document; use WithPublicKeyPEM for public keys")
	}
	return verifyKey{algs: algsHMAC, key: bytes.Clone(secret)}, nil
}

// newPublicKey checks a public key and derives its algorithms.
func newPublicKey(kid string, key any) (verifyKey, error) {
	switch k := key.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return verifyKey{}, fmt.Errorf("auth: Ed25519 public key is %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		if err := edkey.Check(k); err != nil {
			// A small-order issuer key would verify forged tokens.
			return verifyKey{}, fmt.Errorf("auth: Ed25519 public key is unacceptable: %w", err)
		}
		return verifyKey{kid: kid, algs: algsEdDSA, key: ed25519.PublicKey(bytes.Clone(k))}, nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return verifyKey{}, errors.New("auth: nil ECDSA public key")
		}
		var alg string
		switch k.Curve {
		case elliptic.P256():
			alg = "ES256"
		case elliptic.P384():
			alg = "ES384"
		case elliptic.P521():
			alg = "ES512"
		default:
			return verifyKey{}, fmt.Errorf("auth: unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
		return verifyKey{kid: kid, algs: []string{alg}, key: k}, nil
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return verifyKey{}, errors.New("auth: nil RSA public key")
		}
		if k.N.BitLen() < minRSABits {
			return verifyKey{}, fmt.Errorf("auth: RSA key is %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return verifyKey{kid: kid, algs: algsRSA, key: k}, nil
	case []byte, string:
		return verifyKey{}, fmt.Errorf("auth: %T is not a public key; use WithPublicKeyPEM for PEM and WithHMACSecret for secrets", key)
	case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey:
		return verifyKey{}, fmt.Errorf("auth: %T is a private key; pass its Public() instead", key)
	default:
		return verifyKey{}, fmt.Errorf("auth: unsupported public key type %T", key)
	}
}

// parsePEM reads every block of a PEM document: "PUBLIC KEY" (PKIX),
// "RSA PUBLIC KEY" (PKCS #1) and "CERTIFICATE" (only the key is used; the
// certificate's dates and chain are not checked). Private keys are refused.
func parsePEM(data []byte) ([]verifyKey, error) {
	var keys []verifyKey
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var pub any
		var err error
		switch {
		case block.Type == "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case block.Type == "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case block.Type == "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		case strings.Contains(block.Type, "PRIVATE KEY"):
			return nil, fmt.Errorf("auth: refusing PEM block %q: configure the public key only", block.Type)
		default:
			return nil, fmt.Errorf("auth: unsupported PEM block %q", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("auth: PEM block %q: %w", block.Type, err)
		}
		k, err := newPublicKey("", pub)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: no PEM block found")
	}
	return keys, nil
}

// parseJWKS reads a JSON Web Key Set (RFC 7517). Keys marked for another use
// than signatures, and key types or curves this package does not verify with,
// are skipped; a malformed supported key, or any private key material, is an
// error.
func parseJWKS(doc []byte) ([]verifyKey, error) {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("auth: JWKS: %w", err)
	}
	var keys []verifyKey
	for i, jwk := range set.Keys {
		k, ok, err := parseJWK(jwk)
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS key %d (kid %q): %w", i, jwk["kid"], err)
		}
		if ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: JWKS has no usable signature verification key")
	}
	return keys, nil
}

// parseJWK converts one JWK; ok is false for keys that are skipped.
func parseJWK(jwk map[string]any) (k verifyKey, ok bool, err error) {
	if err := refusePrivate(jwk); err != nil {
		return verifyKey{}, false, err
	}
	if use, has := jwk["use"]; has && use != "sig" {
		return verifyKey{}, false, nil
	}
	if ops, has := jwk["key_ops"].([]any); has && !slices.Contains(ops, any("verify")) {
		return verifyKey{}, false, nil
	}
	kid := ""
	if v, has := jwk["kid"]; has {
		if kid, ok = v.(string); !ok {
			return verifyKey{}, false, errors.New("kid is not a string")
		}
	}
	var pub any
	switch kty, crv := jwk["kty"], jwk["crv"]; {
	case kty == "OKP" && crv == "Ed25519":
		pub, err = parseOKP(jwk)
	case kty == "EC" && (crv == "P-256" || crv == "P-384" || crv == "P-521"):
		pub, err = parseEC(jwk)
	case kty == "RSA":
		pub, err = parseRSA(jwk)
	default:
		return verifyKey{}, false, nil
	}
	if err != nil {
		return verifyKey{}, false, err
	}
	if k, err = newPublicKey(kid, pub); err != nil {
		return verifyKey{}, false, err
	}
	if v, has := jwk["alg"]; has {
		alg, _ := v.(string)
		if alg == "Ed25519" { // the fully-specified name of RFC 9864
			alg = "EdDSA"
		}
		if !slices.Contains(k.algs, alg) {
			return verifyKey{}, false, fmt.Errorf("alg %v does not fit a %v key", v, jwk["kty"])
		}
		k.algs = []string{alg}
	}
	return k, true, nil
}

func parseEC(jwk map[string]any) (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	switch jwk["crv"] {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	default:
		curve = elliptic.P521()
	}
	size := (curve.Params().BitSize + 7) / 8
	x, err := b64Member(jwk, "x")
	if err != nil {
		return nil, err
	}
	y, err := b64Member(jwk, "y")
	if err != nil {
		return nil, err
	}
	if len(x) != size || len(y) != size {
		return nil, fmt.Errorf("x and y must be %d bytes each", size)
	}
	point := append(append([]byte{4}, x...), y...)
	return ecdsa.ParseUncompressedPublicKey(curve, point)
}

func parseRSA(jwk map[string]any) (*rsa.PublicKey, error) {
	n, err := b64Member(jwk, "n")
	if err != nil {
		return nil, err
	}
	e, err := b64Member(jwk, "e")
	if err != nil {
		return nil, err
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, errors.New("e is out of range")
	}
	exp := new(big.Int).SetBytes(e).Int64()
	if exp < 3 || exp > 1<<31-1 || exp%2 == 0 {
		return nil, fmt.Errorf("e = %d is not a valid RSA exponent", exp)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}, nil
}
