// Package authtest checks auth.DeviceKeyResolver implementations against the
// contract documented on auth.DeviceKeyResolver. Run it from the tests of
// every implementation:
//
//	func TestResolver(t *testing.T) {
//		authtest.RunResolver(t, func(t *testing.T, devices []authtest.Device) auth.DeviceKeyResolver {
//			return newRegistryWith(t, devices) // a fresh, isolated resolver
//		})
//	}
package authtest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/auth"
)

// Device is a device registered with the resolver under test. It is plain
// data.
type Device struct {
	UserID    string
	DeviceID  string
	PublicKey ed25519.PublicKey
}

// NewResolver returns a resolver that knows exactly devices, isolated from
// the resolvers of other subtests. It may use t for cleanup.
type NewResolver func(t *testing.T, devices []Device) auth.DeviceKeyResolver

// RunResolver runs the conformance tests as subtests of t: registered keys
// are returned exactly, unknown devices and devices of another user are
// reported with auth.ErrUnknownDevice (never auth.ErrUnavailable), and
// concurrent calls agree.
func RunResolver(t *testing.T, newResolver NewResolver) {
	t.Helper()
	devices := []Device{
		{"user-a", "phone", key(1)},
		{"user-a", "laptop", key(2)},
		{"user-b", "phone", key(3)}, // same device id, another user
	}
	ctx := t.Context()

	t.Run("Known", func(t *testing.T) {
		r := newResolver(t, devices)
		for _, d := range devices {
			wantKey(ctx, t, r, d)
		}
	})
	t.Run("UnknownDevice", func(t *testing.T) {
		r := newResolver(t, devices)
		wantUnknown(ctx, t, r, "user-a", "tablet")
		wantUnknown(ctx, t, r, "user-c", "phone")
		wantUnknown(ctx, t, r, "", "")
	})
	t.Run("ScopedToUser", func(t *testing.T) {
		r := newResolver(t, devices[:2])
		wantUnknown(ctx, t, r, "user-b", "phone")
		wantUnknown(ctx, t, r, "user-b", "laptop")
	})
	t.Run("Empty", func(t *testing.T) {
		wantUnknown(ctx, t, newResolver(t, nil), "user-a", "phone")
	})
	t.Run("Concurrent", func(t *testing.T) {
		r := newResolver(t, devices)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for range 50 {
					wantKey(ctx, t, r, devices[i%len(devices)])
					wantUnknown(ctx, t, r, "user-a", fmt.Sprint("tablet-", i))
				}
			})
		}
		wg.Wait()
	})
}

func key(seed byte) ed25519.PublicKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return ed25519.NewKeyFromSeed(s).Public().(ed25519.PublicKey)
}

func wantKey(ctx context.Context, t *testing.T, r auth.DeviceKeyResolver, d Device) {
	t.Helper()
	got, err := r.ResolveDeviceKey(ctx, d.UserID, d.DeviceID)
	if err != nil {
		t.Errorf("ResolveDeviceKey(%q, %q): %v", d.UserID, d.DeviceID, err)
		return
	}
	if !got.Equal(d.PublicKey) {
		t.Errorf("ResolveDeviceKey(%q, %q) = %x, want %x", d.UserID, d.DeviceID, got, d.PublicKey)
	}
}

func wantUnknown(ctx context.Context, t *testing.T, r auth.DeviceKeyResolver, userID, deviceID string) {
	t.Helper()
	got, err := r.ResolveDeviceKey(ctx, userID, deviceID)
	if !errors.Is(err, auth.ErrUnknownDevice) || errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("ResolveDeviceKey(%q, %q) = %x, %v; want auth.ErrUnknownDevice", userID, deviceID, got, err)
	}
}
