package auth

import "errors"

// ErrInvalidToken is wrapped by every error that refuses a token: bad
// signature, disallowed algorithm, expired, wrong issuer or audience, missing
// or malformed claims, unknown device. Test for it with errors.Is; the
// underlying golang-jwt error stays in the chain for logs. Servers map it to
// AUTH_FAILED.
var ErrInvalidToken = errors.New("auth: invalid token")

// ErrUnavailable is wrapped by errors that are not the token's fault: the
// DeviceKeyResolver could not be reached, a remote JWKS (WithRemoteJWKS)
// could not be fetched when the token's key was not in the cache, or the
// context ended while either was asked. Servers map it to UNAVAILABLE, so
// the device may retry with the same token.
var ErrUnavailable = errors.New("auth: key source unavailable")

// ErrUnacceptableKey is wrapped (inside ErrInvalidToken) when a device
// public key, from the cnf claim or from a DeviceKeyResolver, is not a
// canonical encoding of a point in the prime-order subgroup: a small-order
// key lets anyone forge the device's signatures, a mixed-order one lets the
// device deny them. CheckDeviceKey says which keys those are.
var ErrUnacceptableKey = errors.New("auth: device public key is unacceptable")

// ErrUnknownDevice is what a DeviceKeyResolver returns (or wraps) when it has
// no key registered for the user and device. Authenticate reports it wrapped
// in ErrInvalidToken.
var ErrUnknownDevice = errors.New("auth: unknown device")
