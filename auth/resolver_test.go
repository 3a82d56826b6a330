package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// staticResolver maps "user/device" to a key.
type staticResolver map[string]ed25519.PublicKey

func (r staticResolver) ResolveDeviceKey(_ context.Context, userID, deviceID string) (ed25519.PublicKey, error) {
	if k, ok := r[userID+"/"+deviceID]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("device %s of %s: %w", deviceID, userID, ErrUnknownDevice)
}

func TestResolver(t *testing.T) {
	t.Parallel()
	registered := staticResolver{"user-1/device-1": devicePub()}
	noCnf := mintOpts()
	noCnf.DevicePublicKey = nil
	withCnf := mintOpts()
	otherCnf := mintOpts()
	otherCnf.DevicePublicKey = otherEdKey().Public().(ed25519.PublicKey)
	unknown := mintOpts()
	unknown.DeviceID = "device-2"
	unknown.DevicePublicKey = nil
	badCnf := sign(t, jwt.SigningMethodHS256, testSecret,
		with(baseClaims(), map[string]any{"cnf": map[string]any{"jwk": map[string]any{"kty": "RSA"}}}), nil)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name     string
		resolver DeviceKeyResolver
		ctx      context.Context
		token    string
		want     error // nil: accepted with devicePub
		wantAlso error
	}{
		{"key from resolver", registered, nil, mintT(t, jwt.SigningMethodHS256, testSecret, noCnf), nil, nil},
		{"cnf agrees", registered, nil, mintT(t, jwt.SigningMethodHS256, testSecret, withCnf), nil, nil},
		{"cnf disagrees", registered, nil, mintT(t, jwt.SigningMethodHS256, testSecret, otherCnf), ErrInvalidToken, nil},
		{"malformed cnf", registered, nil, badCnf, ErrInvalidToken, nil},
		{"unknown device", registered, nil, mintT(t, jwt.SigningMethodHS256, testSecret, unknown), ErrInvalidToken, ErrUnknownDevice},
		{"nil key", DeviceKeyResolverFunc(func(context.Context, string, string) (ed25519.PublicKey, error) { return nil, nil }),
			nil, mintT(t, jwt.SigningMethodHS256, testSecret, noCnf), ErrInvalidToken, ErrUnknownDevice},
		{"other error", DeviceKeyResolverFunc(func(context.Context, string, string) (ed25519.PublicKey, error) {
			return nil, errors.New("revoked")
		}), nil, mintT(t, jwt.SigningMethodHS256, testSecret, noCnf), ErrInvalidToken, nil},
		{"unavailable", DeviceKeyResolverFunc(func(context.Context, string, string) (ed25519.PublicKey, error) {
			return nil, fmt.Errorf("registry: connection refused: %w", ErrUnavailable)
		}), nil, mintT(t, jwt.SigningMethodHS256, testSecret, withCnf), ErrUnavailable, nil},
		{"context canceled", DeviceKeyResolverFunc(func(ctx context.Context, _, _ string) (ed25519.PublicKey, error) {
			return nil, ctx.Err()
		}), canceled, mintT(t, jwt.SigningMethodHS256, testSecret, noCnf), ErrUnavailable, context.Canceled},
		{"malformed key", DeviceKeyResolverFunc(func(context.Context, string, string) (ed25519.PublicKey, error) {
			return make(ed25519.PublicKey, 31), nil
		}), nil, mintT(t, jwt.SigningMethodHS256, testSecret, noCnf), ErrUnavailable, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			a := newAuth(t, WithHMACSecret(testSecret), WithDeviceKeyResolver(tt.resolver))
			id, err := a.Authenticate(ctx, tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				if !id.PublicKey.Equal(devicePub()) {
					t.Errorf("PublicKey = %x, want %x", id.PublicKey, devicePub())
				}
				return
			}
			if !errors.Is(err, tt.want) || (tt.wantAlso != nil && !errors.Is(err, tt.wantAlso)) {
				t.Fatalf("err = %v, want %v and %v", err, tt.want, tt.wantAlso)
			}
			if tt.want == ErrUnavailable && errors.Is(err, ErrInvalidToken) {
				t.Errorf("err = %v: an unavailable key source is not the token's fault", err)
			}
		})
	}
}

func TestResolverArguments(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	r := DeviceKeyResolverFunc(func(_ context.Context, userID, deviceID string) (ed25519.PublicKey, error) {
		calls.Add(1)
		if userID != "user-1" || deviceID != "device-1" {
			t.Errorf("resolver asked for %q/%q", userID, deviceID)
		}
		return devicePub(), nil
	})
	a := newAuth(t, WithHMACSecret(testSecret), WithDeviceKeyResolver(r))
	o := mintOpts()
	o.DevicePublicKey = nil
	id, err := a.Authenticate(context.Background(), mintT(t, jwt.SigningMethodHS256, testSecret, o))
	if err != nil {
		t.Fatal(err)
	}
	// The identity holds its own copy of the key.
	id.PublicKey[0] ^= 0xff
	if devicePub()[0] == id.PublicKey[0] {
		t.Error("Identity.PublicKey aliases the resolver's key")
	}

	// The resolver is not asked about tokens that fail verification.
	before := calls.Load()
	forged := sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-00"), baseClaims(), nil)
	expired := sign(t, jwt.SigningMethodHS256, testSecret, with(baseClaims(), map[string]any{"exp": testNow.Unix() - 3600}), nil)
	for _, tok := range []string{forged, expired, "garbage"} {
		_, err := a.Authenticate(context.Background(), tok)
		wantInvalid(t, err)
	}
	if n := calls.Load() - before; n != 0 {
		t.Errorf("resolver called %d times for unverified tokens", n)
	}
}
