package auth

import (
	"context"
	"crypto/ed25519"
	"time"
)

// Identity is an authenticated device: who it belongs to and the Ed25519 key
// that must sign its requests. Once returned it is read-only: the server
// shares it (Claims included) among the concurrent service calls of a
// session, so callers must not modify it.
type Identity struct {
	UserID    string            // the token's "sub" claim
	DeviceID  string            // the token's "device_id" claim
	PublicKey ed25519.PublicKey // from "cnf"."jwk", or from the DeviceKeyResolver; JWT only returns keys that pass CheckDeviceKey
	// KeyThumbprint is the token's "cnf"."jkt" (RFC 7638 SHA-256 JWK
	// thumbprint, see Thumbprint) when the token binds the device key by
	// thumbprint and no DeviceKeyResolver supplied the key: PublicKey is
	// then nil, and the key presented in the handshake must match it
	// (ratatoskrhttp does this, with envelope.MetadataDeviceKey).
	KeyThumbprint string
	ExpiresAt     time.Time      // the token's "exp" claim
	Claims        map[string]any // every claim, as encoding/json decodes it (numbers are float64), for handlers
}

// Authenticator turns a device token into an Identity. Implementations are
// safe for concurrent use.
//
// A refused token yields an error wrapping ErrInvalidToken; a failure of a key
// source that is not the token's fault yields one wrapping ErrUnavailable.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*Identity, error)
}

// DeviceKeyResolver supplies the Ed25519 public key of a device registered
// elsewhere (a database, a device registry). Implementations must be safe for
// concurrent use and should honour ctx.
//
// ResolveDeviceKey returns an error wrapping ErrUnknownDevice when the user has
// no such device, and one wrapping ErrUnavailable when the key source cannot
// answer now. Any other error is treated like ErrUnknownDevice: the token is
// refused with ErrInvalidToken. A nil key with a nil error counts as
// ErrUnknownDevice; a key of the wrong length is a resolver fault, reported as
// ErrUnavailable. Package authtest checks implementations against this
// contract.
type DeviceKeyResolver interface {
	ResolveDeviceKey(ctx context.Context, userID, deviceID string) (ed25519.PublicKey, error)
}

// DeviceKeyResolverFunc adapts a function to a DeviceKeyResolver.
type DeviceKeyResolverFunc func(ctx context.Context, userID, deviceID string) (ed25519.PublicKey, error)

// ResolveDeviceKey calls f(ctx, userID, deviceID).
func (f DeviceKeyResolverFunc) ResolveDeviceKey(ctx context.Context, userID, deviceID string) (ed25519.PublicKey, error) {
	return f(ctx, userID, deviceID)
}
