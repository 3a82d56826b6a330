package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWT authenticates devices by their JWT (RFC 7519) device token. It is safe
// for concurrent use; SetKeys replaces its keys while it is in use. A JWT
// with a remote JWKS (WithRemoteJWKS) must be closed (Close).
type JWT struct {
	keys     atomic.Pointer[keySet]
	popts    []jwt.ParserOption // the parser's options but the allow-list, which follows the keys
	remote   *remoteJWKS        // nil without WithRemoteJWKS
	resolver DeviceKeyResolver  // nil: the key comes from "cnf"
	maxSize  int
}

var _ Authenticator = (*JWT)(nil)

// NewJWT returns a JWT authenticator. At least one key must be configured
// (WithHMACSecret, WithPublicKeyPEM, WithPublicKey, WithKeyID, WithJWKS,
// WithRemoteJWKS); NewJWT fails if none is, if a key is unusable, or if
// options are inconsistent.
//
// The accepted algorithms follow from the keys: HS256 only with a secret,
// EdDSA only with Ed25519 keys, ES256/ES384/ES512 with ECDSA keys of the
// matching curve, RS* and PS* with RSA keys. Each key verifies only its own
// algorithms, so "alg": "none" and algorithm confusion (HS256 "signed" with a
// public key as secret) are refused.
//
// Key selection: a token whose header has a "kid" is verified with the keys
// of that id; if no key has that id, with the keys configured without an id,
// and is refused if there are none. A token without "kid" is verified with
// every key that fits its algorithm. With a remote JWKS, a "kid" that no key
// has first makes the set be fetched again (see WithRemoteJWKS). Keys named
// in the token header itself ("jwk", "jku", "x5u", "x5c") are never used,
// and a "crit" header is refused.
//
// Authenticate then requires "exp", honours "nbf" and "iat" (with the
// leeway), checks "iss" and "aud" when configured, and requires non-empty
// string "sub" and "device_id" claims and the device key (see
// ParseConfirmationKey and WithDeviceKeyResolver).
func NewJWT(opts ...Option) (*JWT, error) {
	c := jwtConfig{leeway: DefaultLeeway, maxSize: DefaultMaxTokenSize}
	for _, opt := range opts {
		opt(&c)
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	if c.now == nil {
		c.now = time.Now
	}

	popts := []jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(c.leeway),
		jwt.WithTimeFunc(c.now),
		jwt.WithStrictDecoding(),
	}
	if c.issuer != nil {
		popts = append(popts, jwt.WithIssuer(*c.issuer))
	}
	if len(c.audiences) > 0 {
		popts = append(popts, jwt.WithAudience(c.audiences...))
	}
	j := &JWT{popts: popts, resolver: c.resolver, maxSize: c.maxSize}
	if c.remote != nil {
		var err error
		if j.remote, err = startRemote(c.remote); err != nil {
			return nil, err
		}
	}
	j.keys.Store(newKeySet(c.keys, popts, j.remote != nil))
	return j, nil
}

// Authenticate verifies token and returns the device it identifies. A refused
// token yields an error wrapping ErrInvalidToken (and the golang-jwt error,
// for logs); a DeviceKeyResolver that cannot answer, or a remote JWKS that
// cannot be fetched, yields one wrapping ErrUnavailable. ctx is passed to the
// resolver and bounds any wait for the remote JWKS.
func (j *JWT) Authenticate(ctx context.Context, token string) (*Identity, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: empty token", ErrInvalidToken)
	}
	if len(token) > j.maxSize {
		return nil, fmt.Errorf("%w: token is %d bytes, limit %d", ErrInvalidToken, len(token), j.maxSize)
	}
	claims := jwt.MapClaims{}
	ks := j.keys.Load()
	keyFor := func(t *jwt.Token) (any, error) { return j.keyFor(ctx, ks, t) }
	if _, err := ks.parser.ParseWithClaims(token, claims, keyFor); err != nil {
		if errors.Is(err, ErrUnavailable) { // not the token's fault
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	userID, err := requiredString(claims, "sub")
	if err != nil {
		return nil, err
	}
	deviceID, err := requiredString(claims, "device_id")
	if err != nil {
		return nil, err
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil { // the parser already requires it
		return nil, fmt.Errorf("%w: bad exp claim", ErrInvalidToken)
	}
	pub, jkt, err := j.deviceKey(ctx, claims, userID, deviceID)
	if err != nil {
		return nil, err
	}
	return &Identity{
		UserID:        userID,
		DeviceID:      deviceID,
		PublicKey:     pub,
		KeyThumbprint: jkt,
		ExpiresAt:     exp.Time,
		Claims:        claims,
	}, nil
}

// deviceKey finds the device's public key in "cnf" or from the resolver.
func (j *JWT) deviceKey(ctx context.Context, claims jwt.MapClaims, userID, deviceID string) (ed25519.PublicKey, string, error) {
	pub, err := j.resolveDeviceKey(ctx, claims, userID, deviceID)
	switch {
	case err != nil:
		return nil, "", err
	case pub != nil:
		return pub, "", nil
	}
	// cnf.jkt alone, and no resolver: the key comes with the handshake.
	c, _ := ParseConfirmation(claims["cnf"]) // resolveDeviceKey parsed it
	return nil, c.Thumbprint, nil
}

// resolveDeviceKey returns the device key from the "cnf" claim's jwk or
// the DeviceKeyResolver, checked against cnf's jwk or jkt when both are
// there; nil when the token binds the key by thumbprint only and there is
// no resolver.
func (j *JWT) resolveDeviceKey(ctx context.Context, claims jwt.MapClaims, userID, deviceID string) (ed25519.PublicKey, error) {
	cnf, hasCnf := claims["cnf"]
	var conf Confirmation
	if hasCnf {
		var err error
		if conf, err = ParseConfirmation(cnf); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
	}
	fromCnf := conf.Key
	if j.resolver == nil {
		if !hasCnf {
			return nil, fmt.Errorf("%w: missing cnf claim", ErrInvalidToken)
		}
		return fromCnf, nil
	}

	pub, err := j.resolver.ResolveDeviceKey(ctx, userID, deviceID)
	switch {
	case err == nil:
	case errors.Is(err, ErrUnavailable):
		return nil, fmt.Errorf("auth: resolving device key: %w", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("%w: resolving device key: %w", ErrUnavailable, err)
	default:
		return nil, fmt.Errorf("%w: resolving device key: %w", ErrInvalidToken, err)
	}
	switch len(pub) {
	case ed25519.PublicKeySize:
	case 0:
		return nil, fmt.Errorf("%w: %w: resolver returned no key", ErrInvalidToken, ErrUnknownDevice)
	default:
		return nil, fmt.Errorf("%w: resolver returned a %d-byte key", ErrUnavailable, len(pub))
	}
	if err := CheckDeviceKey(pub); err != nil {
		return nil, fmt.Errorf("%w: registered device key: %w", ErrInvalidToken, err)
	}
	if fromCnf != nil && !bytes.Equal(fromCnf, pub) {
		return nil, fmt.Errorf("%w: cnf key differs from the registered device key", ErrInvalidToken)
	}
	if conf.Thumbprint != "" && Thumbprint(pub) != conf.Thumbprint {
		return nil, fmt.Errorf("%w: cnf.jkt is not the registered device key's thumbprint", ErrInvalidToken)
	}
	return ed25519.PublicKey(bytes.Clone(pub)), nil
}

func requiredString(claims jwt.MapClaims, name string) (string, error) {
	v, ok := claims[name]
	if !ok {
		return "", fmt.Errorf("%w: %w: %s", ErrInvalidToken, jwt.ErrTokenRequiredClaimMissing, name)
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("%w: %s claim must be a non-empty string", ErrInvalidToken, name)
	}
	return s, nil
}
