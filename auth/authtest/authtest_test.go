package authtest_test

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/auth/authtest"
)

// mapResolver is the simplest conforming resolver.
type mapResolver map[[2]string]ed25519.PublicKey

func (m mapResolver) ResolveDeviceKey(_ context.Context, userID, deviceID string) (ed25519.PublicKey, error) {
	if k, ok := m[[2]string{userID, deviceID}]; ok {
		return k, nil
	}
	return nil, auth.ErrUnknownDevice
}

func TestRunResolver(t *testing.T) {
	authtest.RunResolver(t, func(t *testing.T, devices []authtest.Device) auth.DeviceKeyResolver {
		m := mapResolver{}
		for _, d := range devices {
			m[[2]string{d.UserID, d.DeviceID}] = d.PublicKey
		}
		return m
	})
}
