// Package auth authenticates Ratatoskr devices by their device token, a JWT
// verified with github.com/golang-jwt/jwt/v5 against configured keys only.
//
// A device token names the user ("sub"), the device ("device_id") and the
// device's Ed25519 public key as an RFC 7800 confirmation claim
// ("cnf": {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "..."}}), unless a
// DeviceKeyResolver supplies the key. The server then checks every request
// envelope of the session against that key.
//
//	a, err := auth.NewJWT(
//		auth.WithHMACSecret(secret), // or WithPublicKeyPEM, WithJWKS
//		auth.WithIssuer("https://id.example.com"),
//	)
//	if err != nil {
//		return err
//	}
//	id, err := a.Authenticate(ctx, token)
//	switch {
//	case errors.Is(err, auth.ErrInvalidToken): // AUTH_FAILED
//	case errors.Is(err, auth.ErrUnavailable): // UNAVAILABLE, retry later
//	}
//
// Algorithms are never taken on the token's word: the allow-list is derived
// from the configured keys, "exp" is required, and the leeway is small
// (DefaultLeeway). The package holds no global state and never logs.
package auth
