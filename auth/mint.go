package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
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
	// BindByThumbprint puts DevicePublicKey's RFC 7638 thumbprint in the
	// token ("cnf": {"jkt": …}) instead of the key itself; the device then
	// presents its key in the handshake. Default: the key ("cnf": {"jwk": …}).
	BindByThumbprint bool
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
	return Mint(secret, o)
}

// Mint returns a device token signed with key, with the algorithm its type
// calls for (see SigningAlg): an ed25519.PrivateKey signs EdDSA, an
// *ecdsa.PrivateKey ES256, ES384 or ES512 by its curve, an *rsa.PrivateKey
// RS256, and a []byte HMAC secret HS256. The token carries "sub",
// "device_id", "iat", "exp", a random "jti", and "cnf", "iss", "aud" and
// Extra claims as o says. To choose another algorithm (PS256 for an RSA
// key, say), use MintWith.
func Mint(key crypto.PrivateKey, o MintOptions) (string, error) {
	method, err := signingMethod(key)
	if err != nil {
		return "", err
	}
	return MintWith(method, key, o)
}

// SigningAlg returns the JWT "alg" Mint signs with key: EdDSA, ES256,
// ES384, ES512, RS256 or HS256. It refuses keys Mint cannot use: RSA keys
// under 2048 bits, HMAC secrets under MinHMACSecretSize bytes, other
// curves and types.
func SigningAlg(key crypto.PrivateKey) (string, error) {
	m, err := signingMethod(key)
	if err != nil {
		return "", err
	}
	return m.Alg(), nil
}

// signingMethod picks the signing method for key; see Mint.
func signingMethod(key crypto.PrivateKey) (jwt.SigningMethod, error) {
	switch k := key.(type) {
	case ed25519.PrivateKey:
		return jwt.SigningMethodEdDSA, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jwt.SigningMethodES256, nil
		case elliptic.P384():
			return jwt.SigningMethodES384, nil
		case elliptic.P521():
			return jwt.SigningMethodES512, nil
		}
		return nil, fmt.Errorf("auth: ECDSA curve %s is not supported for tokens", k.Curve.Params().Name)
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("auth: RSA key of %d bits, want at least %d", k.N.BitLen(), minRSABits)
		}
		return jwt.SigningMethodRS256, nil
	case []byte:
		if len(k) < MinHMACSecretSize {
			return nil, fmt.Errorf("auth: HMAC secret is %d bytes, want at least %d", len(k), MinHMACSecretSize)
		}
		return jwt.SigningMethodHS256, nil
	case nil:
		return nil, errors.New("auth: Mint needs a key")
	}
	return nil, fmt.Errorf("auth: cannot mint with a %T: use an Ed25519, ECDSA or RSA private key or an HMAC secret", key)
}

// MintWith is Mint with an explicit signing method and key: for instance
// jwt.SigningMethodEdDSA with an ed25519.PrivateKey, jwt.SigningMethodES256
// with a P-256 *ecdsa.PrivateKey, jwt.SigningMethodRS256 with an
// *rsa.PrivateKey. The token carries "sub", "device_id", "iat", "exp", a
// random "jti", and "cnf", "iss", "aud" and Extra claims as o says.
// "alg": "none" is refused.
func MintWith(method jwt.SigningMethod, key crypto.PrivateKey, o MintOptions) (string, error) {
	switch {
	case method == nil || key == nil:
		return "", errors.New("auth: MintWith needs a signing method and a key")
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
	switch {
	case o.DevicePublicKey != nil && o.BindByThumbprint:
		claims["cnf"] = ConfirmationThumbprintClaim(o.DevicePublicKey)
	case o.DevicePublicKey != nil:
		claims["cnf"] = ConfirmationClaim(o.DevicePublicKey)
	case o.BindByThumbprint:
		return "", errors.New("auth: MintOptions.BindByThumbprint needs DevicePublicKey")
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
