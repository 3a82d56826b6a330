package auth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultTTL is the lifetime of a minted token when MintOptions.TTL is zero.
const DefaultTTL = time.Hour

// MintOptions describes a device token to mint. Minting is meant for tests,
// examples, development tools and simple issuers; production tokens usually
// come from an identity provider.
type MintOptions struct {
	// UserID becomes "sub". Required.
	UserID string
	// DeviceID becomes "device_id". Required.
	DeviceID string
	// DevicePublicKey becomes "cnf" (see ConfirmationClaim). It must pass
	// CheckDeviceKey. Default: no "cnf", for verifiers that use a
	// DeviceKeyResolver.
	DevicePublicKey ed25519.PublicKey
	// KeyID becomes the "kid" header. Default: no "kid".
	KeyID string
	// Issuer becomes "iss". Default: no "iss".
	Issuer string
	// Audience becomes "aud" (a JSON array). Default: no "aud".
	Audience []string
	// TTL is the time from "iat" to "exp". Defaults to DefaultTTL (1 h);
	// negative is an error.
	TTL time.Duration
	// Now is the clock for "iat" and "exp". Defaults to time.Now.
	Now func() time.Time
	// Extra holds further claims (for instance "nbf" or "scope"). It may not
	// set the claims above nor "iat", "exp" and "jti". It is not modified.
	Extra map[string]any
}

// reservedClaims are set by Mint and may not come from MintOptions.Extra.
var reservedClaims = [...]string{"sub", "device_id", "cnf", "iss", "aud", "iat", "exp", "jti"}

// MintHS256 returns a device token signed with HS256 and secret, which must
// be at least MinHMACSecretSize bytes. See Mint.
func MintHS256(secret []byte, o MintOptions) (string, error) {
	if len(secret) < MinHMACSecretSize {
		return "", fmt.Errorf("auth: HMAC secret is %d bytes, want at least %d", len(secret), MinHMACSecretSize)
	}
	return Mint(jwt.SigningMethodHS256, secret, o)
}

// Mint returns a device token signed with method and key: for instance
// jwt.SigningMethodEdDSA with an ed25519.PrivateKey, jwt.SigningMethodES256
// with a P-256 *ecdsa.PrivateKey, jwt.SigningMethodRS256 with an
// *rsa.PrivateKey. The token carries "sub", "device_id", "iat", "exp", a
// random "jti", and "cnf", "iss", "aud" and Extra claims as o says.
// "alg": "none" is refused.
func Mint(method jwt.SigningMethod, key crypto.PrivateKey, o MintOptions) (string, error) {
	switch {
	case method == nil || key == nil:
		return "", errors.New("auth: Mint needs a signing method and a key")
	case method.Alg() == jwt.SigningMethodNone.Alg():
		return "", errors.New(`auth: refusing to mint an "alg": "none" token`)
	case o.UserID == "" || o.DeviceID == "":
		return "", errors.New("auth: MintOptions.UserID and DeviceID are required")
	case o.TTL < 0:
		return "", errors.New("auth: MintOptions.TTL is negative")
	case o.DevicePublicKey != nil && len(o.DevicePublicKey) != ed25519.PublicKeySize:
		return "", fmt.Errorf("auth: MintOptions.DevicePublicKey is %d bytes, want %d", len(o.DevicePublicKey), ed25519.PublicKeySize)
	case o.DevicePublicKey != nil && CheckDeviceKey(o.DevicePublicKey) != nil:
		return "", fmt.Errorf("auth: MintOptions.DevicePublicKey: %w", CheckDeviceKey(o.DevicePublicKey))
	}
	claims := jwt.MapClaims{}
	for name, v := range o.Extra {
		if slices.Contains(reservedClaims[:], name) {
			return "", fmt.Errorf("auth: MintOptions.Extra may not set %q", name)
		}
		claims[name] = v
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	iat := now()
	claims["sub"] = o.UserID
	claims["device_id"] = o.DeviceID
	claims["iat"] = jwt.NewNumericDate(iat)
	claims["exp"] = jwt.NewNumericDate(iat.Add(ttl))
	claims["jti"] = rand.Text()
	if o.DevicePublicKey != nil {
		claims["cnf"] = ConfirmationClaim(o.DevicePublicKey)
	}
	if o.Issuer != "" {
		claims["iss"] = o.Issuer
	}
	if len(o.Audience) > 0 {
		claims["aud"] = slices.Clone(o.Audience)
	}
	t := jwt.NewWithClaims(method, claims)
	if o.KeyID != "" {
		t.Header["kid"] = o.KeyID
	}
	s, err := t.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("auth: signing token: %w", err)
	}
	return s, nil
}
