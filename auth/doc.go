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
// (DefaultLeeway). The package holds no global state, and logs only to the
// logger a RemoteJWKSOptions gives it.
//
// # Issuer keys that change
//
// An identity provider that publishes its keys as a JWKS is followed with
// WithRemoteJWKS: the set is cached, fetched again on a schedule and when a
// token names an unknown "kid" (rate-limited), and a JWKS that cannot be
// fetched makes Authenticate answer ErrUnavailable rather than refuse the
// token. Such a JWT runs a goroutine; Close it.
//
//	a, err := auth.NewJWT(
//		auth.WithRemoteJWKS("https://id.example.com/.well-known/jwks.json", nil),
//		auth.WithIssuer("https://id.example.com"),
//	)
//	if err != nil {
//		return err
//	}
//	defer a.Close()
//
// Configured keys (secrets, PEM, static JWKS) are replaced without a restart
// by JWT.SetKeys, atomically with respect to handshakes in progress.
//
// When an issuer key is retired or revoked (SetKeys without it, or the issuer
// dropping it from its JWKS and the next fetch seeing that), tokens it signed
// are refused from the next handshake on. Sessions those tokens already
// opened are not ended by this package: each stays open until its token
// expires, or until its next renewal (a CONNECTION_REQUEST on the open
// connection), whose token is verified against the keys then in use. To end
// them sooner, for a revoked (compromised) key in particular, the operator
// ends them with ratatoskrhttp.Handler.Disconnect, which selects sessions by
// user or device, on every replica; with the key removed first, the devices
// cannot reconnect with the tokens it signed.
package auth
