package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// algsRemote are the algorithms a key of a remote JWKS may verify: every
// asymmetric one, never HS256 (symmetric keys of a JWKS are skipped).
var algsRemote = slices.Concat(algsEdDSA, []string{"ES256", "ES384", "ES512"}, algsRSA)

// keySet is the immutable set of configured (static) keys, with the parser
// whose algorithm allow-list they imply. SetKeys swaps it whole, so that an
// Authenticate sees either the old set or the new one.
type keySet struct {
	keys   []verifyKey
	parser *jwt.Parser
}

// newKeySet builds a keySet; popts are the parser options other than the
// allow-list.
func newKeySet(keys []verifyKey, popts []jwt.ParserOption, remote bool) *keySet {
	var algs []string
	if remote {
		algs = slices.Clone(algsRemote)
	}
	for _, k := range keys {
		for _, alg := range k.algs {
			if !slices.Contains(algs, alg) {
				algs = append(algs, alg)
			}
		}
	}
	opts := append(slices.Clip(popts), jwt.WithValidMethods(algs))
	return &keySet{keys: keys, parser: jwt.NewParser(opts...)}
}

// SetKeys replaces the configured verification keys with those that opts
// add (WithHMACSecret, WithPublicKeyPEM, WithPublicKey, WithKeyID, WithJWKS),
// at once and while handshakes run: each Authenticate uses the old keys or
// the new ones, never a mix. The algorithm allow-list follows the new keys.
// Everything else stays as NewJWT set it: issuer, audience, leeway, clock,
// resolver, size limit, and the remote JWKS, which refreshes itself; passing
// any of those options is an error. So is a set with no key, unless a remote
// JWKS is configured. On error the keys in use do not change.
//
// A token signed by a key that SetKeys removed is refused from the next
// Authenticate on. Sessions that such a token opened are not ended: see the
// package documentation. SetKeys is safe to call concurrently with
// Authenticate and with itself; the last call wins.
func (j *JWT) SetKeys(opts ...Option) error {
	var c jwtConfig
	for _, opt := range opts {
		opt(&c)
	}
	if len(c.settings) > 0 {
		return fmt.Errorf("auth: SetKeys takes key options only, not %s", strings.Join(c.settings, ", "))
	}
	if err := errors.Join(c.errs...); err != nil {
		return err
	}
	if len(c.keys) == 0 && j.remote == nil {
		return errors.New("auth: SetKeys: no verification key given")
	}
	j.keys.Store(newKeySet(c.keys, j.popts, j.remote != nil))
	return nil
}

// keyFor is the jwt.Keyfunc of one Authenticate: it returns only keys whose
// algorithms include the token's (already allow-listed) alg, selected by kid
// as NewJWT documents, from ks and the remote JWKS.
func (j *JWT) keyFor(ctx context.Context, ks *keySet, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New(`unsupported "crit" header`)
	}
	alg := t.Method.Alg()
	kid, hasKid := "", false
	if v, ok := t.Header["kid"]; ok {
		if kid, hasKid = v.(string); !hasKid {
			return nil, errors.New(`"kid" header is not a string`)
		}
	}
	remote := j.remote != nil && slices.Contains(algsRemote, alg)
	var remoteKeys []verifyKey
	if remote {
		remoteKeys = j.remote.keysFor(ctx, kid, hasKid, ks.keys)
	}
	keys := selectKeys(alg, kid, hasKid, ks.keys, remoteKeys)
	switch len(keys) {
	case 0:
		if remote {
			if err := j.remote.unavailable(ctx); err != nil {
				return nil, err
			}
		}
		if hasKid {
			return nil, fmt.Errorf("no %s key with kid %q", alg, kid)
		}
		return nil, fmt.Errorf("no %s key", alg)
	case 1:
		return keys[0], nil
	default:
		return jwt.VerificationKeySet{Keys: keys}, nil
	}
}

// selectKeys returns the keys of sets that fit alg: those of id kid when the
// token names one and some key has it, else those without an id.
func selectKeys(alg, kid string, hasKid bool, sets ...[]verifyKey) []jwt.VerificationKey {
	var named, unnamed []jwt.VerificationKey
	for _, set := range sets {
		for _, k := range set {
			if !slices.Contains(k.algs, alg) {
				continue
			}
			if hasKid && k.kid == kid {
				named = append(named, k.key)
			} else if !hasKid || k.kid == "" {
				unnamed = append(unnamed, k.key)
			}
		}
	}
	if len(named) > 0 {
		return named
	}
	return unnamed
}

// hasKeyID reports whether a key of keys has id kid, whatever its algorithms.
func hasKeyID(keys []verifyKey, kid string) bool {
	return slices.ContainsFunc(keys, func(k verifyKey) bool { return k.kid == kid })
}
