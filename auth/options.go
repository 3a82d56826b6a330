package auth

import (
	"crypto"
	"errors"
	"slices"
	"time"
)

// DefaultLeeway is the clock skew allowed on "exp", "nbf" and "iat" unless
// WithLeeway says otherwise. Tokens are issued and checked by servers whose
// clocks are synchronised, so it is small.
const DefaultLeeway = 5 * time.Second

// DefaultMaxTokenSize is the largest token, in bytes, that Authenticate parses
// unless WithMaxTokenSize says otherwise.
const DefaultMaxTokenSize = 8 << 10

// Option configures NewJWT. Options that add keys may be given several times;
// the others take the last value given. The options that add keys
// (WithHMACSecret, WithPublicKeyPEM, WithPublicKey, WithKeyID, WithJWKS) are
// also what JWT.SetKeys takes.
type Option func(*jwtConfig)

type jwtConfig struct {
	keys      []verifyKey
	errs      []error
	settings  []string // the options given that are not key options, which SetKeys refuses
	remote    *remoteConfig
	issuer    *string
	audiences []string
	leeway    time.Duration
	now       func() time.Time
	resolver  DeviceKeyResolver
	hasResolv bool
	maxSize   int
}

func (c *jwtConfig) add(keys []verifyKey, err error) {
	if err != nil {
		c.errs = append(c.errs, err)
		return
	}
	c.keys = append(c.keys, keys...)
}

func one(k verifyKey, err error) ([]verifyKey, error) { return []verifyKey{k}, err }

// setting records an option that is not a key option.
func (c *jwtConfig) setting(name string) {
	if !slices.Contains(c.settings, name) {
		c.settings = append(c.settings, name)
	}
}

// WithHMACSecret adds an HS256 secret. It must be at least MinHMACSecretSize
// bytes of real randomness; a shorter secret, or one that looks like a PEM
// document, makes NewJWT fail. The secret is copied. Default: none.
//
// Anyone holding the secret can mint tokens for any user: keep it on servers.
func WithHMACSecret(secret []byte) Option {
	return func(c *jwtConfig) { c.add(one(newSecretKey(secret))) }
}

// WithPublicKeyPEM adds every public key of a PEM document: "PUBLIC KEY"
// (PKIX), "RSA PUBLIC KEY" (PKCS #1) or "CERTIFICATE" blocks (only the key of a
// certificate is used; its validity and chain are not checked). Ed25519 keys
// verify EdDSA; ECDSA keys ES256, ES384 or ES512 by curve (P-256, P-384,
// P-521); RSA keys of at least 2048 bits RS256/384/512 and PS256/384/512.
// Private keys and other blocks make NewJWT fail. Default: none.
func WithPublicKeyPEM(pem []byte) Option {
	return func(c *jwtConfig) { c.add(parsePEM(pem)) }
}

// WithPublicKey adds a parsed public key: ed25519.PublicKey, *ecdsa.PublicKey
// or *rsa.PublicKey, with the algorithms described at WithPublicKeyPEM. Other
// types, including private keys and []byte, make NewJWT fail. Default: none.
func WithPublicKey(key crypto.PublicKey) Option {
	return WithKeyID("", key)
}

// WithKeyID adds a public key, as WithPublicKey, under the key id kid. A token
// whose header names a "kid" is verified only with the keys of that id; see
// NewJWT for the full rule. An empty kid is the same as WithPublicKey.
// Default: none.
func WithKeyID(kid string, key crypto.PublicKey) Option {
	return func(c *jwtConfig) { c.add(one(newPublicKey(kid, key))) }
}

// WithJWKS adds the signature keys of a static JSON Web Key Set document
// (RFC 7517) under their "kid": OKP Ed25519, EC P-256/P-384/P-521 and RSA keys
// (at least 2048 bits). A key's "alg", when present, restricts it to that
// algorithm. Keys whose "use" is not "sig" or whose "key_ops" lack "verify",
// and key types or curves not listed here, are skipped; a malformed key, a
// key with private material, or a set with no usable key makes NewJWT fail.
// Nothing is fetched over the network. Default: none.
func WithJWKS(doc []byte) Option {
	return func(c *jwtConfig) { c.add(parseJWKS(doc)) }
}

// WithRemoteJWKS verifies tokens with the signature keys of the JSON Web Key
// Set that the issuer publishes at url (its "jwks_uri"), fetched over HTTPS
// and kept in memory. The keys are taken as WithJWKS describes, so each
// verifies only the algorithms of its type (and its "alg", when present);
// keys that WithJWKS would refuse are skipped and logged. It may be combined
// with the other key options, and given once. opts may be nil for the
// defaults; see RemoteJWKSOptions.
//
// NewJWT fetches the set once, waiting at most RemoteJWKSOptions.FetchTimeout;
// when that fails, NewJWT still succeeds and Authenticate refuses tokens with
// ErrUnavailable until a fetch succeeds. After that, the set is fetched again
// every RefreshInterval, and when a token names a "kid" that no key has (at
// most once per RefreshUnknownKIDInterval, and Authenticate waits at most
// MaxWait for it). A token whose key cannot be found because the set could
// not be fetched is refused with ErrUnavailable (the server answers
// UNAVAILABLE and the device may retry); one whose key is missing from a
// freshly fetched set, with ErrInvalidToken. Keys that the issuer removes
// stop verifying after the next fetch.
//
// The url must be https, or http to a loopback host (localhost, 127.0.0.0/8,
// ::1) for development; redirects are held to the same rule. A JWKS document
// over 1 MiB is refused. A JWT with a remote JWKS runs a goroutine: call
// JWT.Close when done with it.
func WithRemoteJWKS(url string, opts *RemoteJWKSOptions) Option {
	return func(c *jwtConfig) {
		c.setting("WithRemoteJWKS")
		if c.remote != nil {
			c.errs = append(c.errs, errors.New("auth: WithRemoteJWKS given more than once"))
			return
		}
		r, err := newRemoteConfig(url, opts)
		if err != nil {
			c.errs = append(c.errs, err)
			return
		}
		c.remote = r
	}
}

// WithIssuer requires the token's "iss" claim to equal iss. Default: "iss" is
// not checked. An empty iss makes NewJWT fail.
func WithIssuer(iss string) Option {
	return func(c *jwtConfig) { c.setting("WithIssuer"); c.issuer = &iss }
}

// WithAudience requires the token's "aud" claim to contain aud. Given several
// times, any one of the audiences is enough. Default: "aud" is not checked.
// An empty aud makes NewJWT fail.
func WithAudience(aud string) Option {
	return func(c *jwtConfig) { c.setting("WithAudience"); c.audiences = append(c.audiences, aud) }
}

// WithLeeway sets the clock skew allowed when checking "exp", "nbf" and "iat".
// Default: DefaultLeeway (5 s). A negative d makes NewJWT fail.
func WithLeeway(d time.Duration) Option {
	return func(c *jwtConfig) { c.setting("WithLeeway"); c.leeway = d }
}

// WithTimeFunc sets the clock used to check "exp", "nbf" and "iat", for tests.
// Default (and for nil): time.Now.
func WithTimeFunc(now func() time.Time) Option {
	return func(c *jwtConfig) { c.setting("WithTimeFunc"); c.now = now }
}

// WithDeviceKeyResolver makes the device key come from r instead of the
// token's "cnf" claim, which then becomes optional. When a token carries "cnf"
// as well, its key must equal the resolved key or the token is refused, so the
// issuer and the registry cannot silently disagree. r is asked only after the
// token's signature and claims have been verified. Default: none; the key
// comes from "cnf", which is then required. A nil r makes NewJWT fail.
func WithDeviceKeyResolver(r DeviceKeyResolver) Option {
	return func(c *jwtConfig) { c.setting("WithDeviceKeyResolver"); c.resolver, c.hasResolv = r, true }
}

// WithMaxTokenSize sets the largest token, in bytes, that Authenticate parses;
// bigger tokens are refused before any decoding. Default:
// DefaultMaxTokenSize (8 KiB). A value below 1 makes NewJWT fail.
func WithMaxTokenSize(n int) Option {
	return func(c *jwtConfig) { c.setting("WithMaxTokenSize"); c.maxSize = n }
}

// check reports inconsistent options.
func (c *jwtConfig) check() error {
	errs := c.errs
	if len(c.keys) == 0 && c.remote == nil && len(c.errs) == 0 {
		errs = append(errs, errors.New("auth: no verification key configured"))
	}
	if c.issuer != nil && *c.issuer == "" {
		errs = append(errs, errors.New("auth: WithIssuer: empty issuer"))
	}
	for _, aud := range c.audiences {
		if aud == "" {
			errs = append(errs, errors.New("auth: WithAudience: empty audience"))
		}
	}
	if c.leeway < 0 {
		errs = append(errs, errors.New("auth: WithLeeway: negative leeway"))
	}
	if c.maxSize < 1 {
		errs = append(errs, errors.New("auth: WithMaxTokenSize: size must be positive"))
	}
	if c.hasResolv && c.resolver == nil {
		errs = append(errs, errors.New("auth: WithDeviceKeyResolver: nil resolver"))
	}
	return errors.Join(errs...)
}
