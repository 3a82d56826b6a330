// Package devsecret holds the HS256 secret that the example server and the
// example client share when neither -jwt-secret nor RATATOSKR_JWT_SECRET is
// given, so that a newcomer can run both with no setup at all.
//
// WARNING: the secret is public. It is printed in this file, in every copy
// of the repository, and anyone who has it can mint device tokens for any
// user of a server that accepts it. It is for development on your own
// machine only; give every real deployment its own secret of at least 32
// random bytes (for instance `openssl rand -base64 48`), or better, verify
// tokens with an issuer's public key (-jwt-public-key).
package devsecret

// Secret is the embedded development secret. See the package doc: it is
// public, never use it outside development.
const Secret = "ratatoskr-example-DEVELOPMENT-ONLY-secret-do-not-deploy"

// Warning is what the example programs log when they fall back to Secret.
const Warning = "using the embedded development JWT secret: it is public, anyone can mint tokens with it; set -jwt-secret or RATATOSKR_JWT_SECRET outside development"
