package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/ratatoskr-proto/ratatoskr/internal/edkey"
)

// ParseConfirmationKey returns the device's Ed25519 public key from the value
// of a token's "cnf" claim (RFC 7800), as decoded from JSON:
//
//	{"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "<base64url, 32 bytes>"}}
//
// It is strict: cnf and jwk must be JSON objects, kty must be "OKP", crv
// "Ed25519", x unpadded base64url of exactly 32 bytes (RFC 8037); a JWK that
// carries private key material ("d") is refused, as is an "alg" other than
// EdDSA or Ed25519 and a "use" other than "sig". The key must pass
// CheckDeviceKey: small-order, mixed-order and non-canonical keys are
// refused with an error wrapping ErrUnacceptableKey. Other confirmation
// methods (jku, jwe, kid) are not supported.
func ParseConfirmationKey(cnf any) (ed25519.PublicKey, error) {
	obj, ok := cnf.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("auth: cnf claim is %s, want an object", jsonKind(cnf))
	}
	raw, ok := obj["jwk"]
	if !ok {
		return nil, errors.New(`auth: cnf claim has no "jwk" member`)
	}
	jwk, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("auth: cnf.jwk is %s, want an object", jsonKind(raw))
	}
	key, err := parseOKP(jwk)
	if err != nil {
		return nil, fmt.Errorf("auth: cnf.jwk: %w", err)
	}
	return key, nil
}

// ConfirmationJWK returns pub as an OKP JSON Web Key (RFC 8037):
// {"kty":"OKP","crv":"Ed25519","x":"<base64url>"}. It returns nil when pub is
// not ed25519.PublicKeySize bytes long.
func ConfirmationJWK(pub ed25519.PublicKey) map[string]any {
	if len(pub) != ed25519.PublicKeySize {
		return nil
	}
	return map[string]any{
		"kty": "OKP",
		"crv": "Ed25519",
		"x":   base64.RawURLEncoding.EncodeToString(pub),
	}
}

// ConfirmationClaim returns the value of the "cnf" claim that binds a token to
// pub: {"jwk": ConfirmationJWK(pub)}. ParseConfirmationKey reverses it. It
// returns nil when pub is not ed25519.PublicKeySize bytes long.
func ConfirmationClaim(pub ed25519.PublicKey) map[string]any {
	jwk := ConfirmationJWK(pub)
	if jwk == nil {
		return nil
	}
	return map[string]any{"jwk": jwk}
}

// parseOKP reads an Ed25519 public key from a JWK object. It is shared by the
// cnf claim and JWKS documents.
func parseOKP(jwk map[string]any) (ed25519.PublicKey, error) {
	if err := refusePrivate(jwk); err != nil {
		return nil, err
	}
	if err := wantMember(jwk, "kty", "OKP"); err != nil {
		return nil, err
	}
	if err := wantMember(jwk, "crv", "Ed25519"); err != nil {
		return nil, err
	}
	if alg, ok := jwk["alg"]; ok && alg != "EdDSA" && alg != "Ed25519" {
		return nil, fmt.Errorf("alg %v is not EdDSA", alg)
	}
	if use, ok := jwk["use"]; ok && use != "sig" {
		return nil, fmt.Errorf(`use %v is not "sig"`, use)
	}
	x, err := b64Member(jwk, "x")
	if err != nil {
		return nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("x is %d bytes, want %d", len(x), ed25519.PublicKeySize)
	}
	if err := CheckDeviceKey(x); err != nil {
		return nil, fmt.Errorf("x: %w", err)
	}
	return ed25519.PublicKey(x), nil
}

// CheckDeviceKey returns nil when pub is an acceptable Ed25519 device key:
// 32 bytes, the canonical encoding of a point in the prime-order subgroup.
// Otherwise it returns an error wrapping ErrUnacceptableKey that says why
// (small order, mixed order, non-canonical, not on the curve). Every key
// that JWT.Authenticate returns has passed it; a custom Authenticator or
// key registry should call it when a key is registered. It costs about as
// much as one signature verification.
func CheckDeviceKey(pub ed25519.PublicKey) error {
	if err := edkey.Check(pub); err != nil {
		return fmt.Errorf("%w: %w", ErrUnacceptableKey, err)
	}
	return nil
}

// privateMembers are the JWK members that hold private or secret key material
// (RFC 7518 section 6).
var privateMembers = [...]string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

func refusePrivate(jwk map[string]any) error {
	for _, m := range privateMembers {
		if _, ok := jwk[m]; ok {
			return fmt.Errorf("refusing a JWK with private key material (%q)", m)
		}
	}
	return nil
}

func wantMember(jwk map[string]any, name, want string) error {
	v, ok := jwk[name]
	if !ok {
		return fmt.Errorf("%s is missing", name)
	}
	if v != want {
		return fmt.Errorf("%s is %v, want %s", name, v, want)
	}
	return nil
}

// b64Member decodes a required base64url member. It is stricter than
// encoding/base64, which skips line breaks: padding, line breaks and
// non-canonical trailing bits are all refused, so one key has one encoding.
func b64Member(jwk map[string]any, name string) ([]byte, error) {
	v, ok := jwk[name]
	if !ok {
		return nil, fmt.Errorf("%s is missing", name)
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("%s is %s, want a string", name, jsonKind(v))
	}
	if strings.ContainsAny(s, "=\r\n") {
		return nil, fmt.Errorf("%s is not unpadded base64url", name)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s is not base64url: %w", name, err)
	}
	return b, nil
}

// jsonKind names the JSON type of a value decoded by encoding/json.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// Thumbprint returns the RFC 7638 JWK thumbprint of the Ed25519 key pub:
// the unpadded base64url SHA-256 of its canonical JWK,
// {"crv":"Ed25519","kty":"OKP","x":"<base64url>"} (members in that order,
// no whitespace). A token binds a device key by it in "cnf"."jkt"
// (RFC 9449). It returns "" when pub is not 32 bytes long.
func Thumbprint(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		return ""
	}
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Confirmation is how a token binds its device key: by the key itself
// ("cnf"."jwk") or by its thumbprint ("cnf"."jkt").
type Confirmation struct {
	Key        ed25519.PublicKey // from jwk; nil when the token has jkt only
	Thumbprint string            // from jkt; "" when the token has jwk only
}

// ParseConfirmation reads a "cnf" claim carrying "jwk" (see
// ParseConfirmationKey), "jkt" (an unpadded base64url SHA-256 thumbprint,
// 43 characters), or both, in which case the thumbprint must be the jwk's.
func ParseConfirmation(cnf any) (Confirmation, error) {
	obj, ok := cnf.(map[string]any)
	if !ok {
		return Confirmation{}, fmt.Errorf("auth: cnf claim is %s, want an object", jsonKind(cnf))
	}
	var c Confirmation
	if raw, ok := obj["jkt"]; ok {
		jkt, ok := raw.(string)
		if !ok {
			return Confirmation{}, fmt.Errorf("auth: cnf.jkt is %s, want a string", jsonKind(raw))
		}
		if b, err := base64.RawURLEncoding.Strict().DecodeString(jkt); err != nil || len(b) != sha256.Size {
			return Confirmation{}, errors.New("auth: cnf.jkt is not an unpadded base64url SHA-256 thumbprint")
		}
		c.Thumbprint = jkt
	}
	if _, ok := obj["jwk"]; ok || c.Thumbprint == "" {
		key, err := ParseConfirmationKey(cnf)
		if err != nil {
			return Confirmation{}, err
		}
		if c.Thumbprint != "" && Thumbprint(key) != c.Thumbprint {
			return Confirmation{}, errors.New("auth: cnf.jkt is not the thumbprint of cnf.jwk")
		}
		c.Key = key
	}
	return c, nil
}

// ConfirmationThumbprintClaim returns the value of a "cnf" claim that binds
// a token to pub by thumbprint: {"jkt": Thumbprint(pub)}.
func ConfirmationThumbprintClaim(pub ed25519.PublicKey) map[string]any {
	return map[string]any{"jkt": Thumbprint(pub)}
}
