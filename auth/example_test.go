package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
)

func ExampleNewJWT() {
	secret := []byte("an-example-secret-of-32-bytes-!!") // use 32 random bytes
	devicePub, _, _ := ed25519.GenerateKey(rand.Reader)

	// The issuer mints a token that binds the device key to the user.
	token, err := auth.MintHS256(secret, auth.MintOptions{
		UserID:          "user-42",
		DeviceID:        "phone-7",
		DevicePublicKey: devicePub,
		Issuer:          "https://id.example.com",
		TTL:             15 * time.Minute,
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The server verifies it.
	a, err := auth.NewJWT(
		auth.WithHMACSecret(secret),
		auth.WithIssuer("https://id.example.com"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	id, err := a.Authenticate(context.Background(), token)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(id.UserID, id.DeviceID, id.PublicKey.Equal(devicePub))

	_, err = a.Authenticate(context.Background(), token+"x")
	fmt.Println(errors.Is(err, auth.ErrInvalidToken))
	// Output:
	// user-42 phone-7 true
	// true
}

func ExampleWithDeviceKeyResolver() {
	secret := []byte("an-example-secret-of-32-bytes-!!")
	devicePub, _, _ := ed25519.GenerateKey(rand.Reader)

	// Device keys registered elsewhere, here in a map.
	registry := map[string]ed25519.PublicKey{"user-42/phone-7": devicePub}
	resolver := auth.DeviceKeyResolverFunc(func(ctx context.Context, userID, deviceID string) (ed25519.PublicKey, error) {
		if k, ok := registry[userID+"/"+deviceID]; ok {
			return k, nil
		}
		return nil, auth.ErrUnknownDevice // a database outage would wrap auth.ErrUnavailable
	})

	a, err := auth.NewJWT(auth.WithHMACSecret(secret), auth.WithDeviceKeyResolver(resolver))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, device := range []string{"phone-7", "laptop-1"} {
		// No DevicePublicKey: the token carries no "cnf" claim.
		token, _ := auth.MintHS256(secret, auth.MintOptions{UserID: "user-42", DeviceID: device})
		id, err := a.Authenticate(context.Background(), token)
		if err != nil {
			fmt.Println(device, errors.Is(err, auth.ErrInvalidToken), errors.Is(err, auth.ErrUnknownDevice))
			continue
		}
		fmt.Println(device, id.PublicKey.Equal(devicePub))
	}
	// Output:
	// phone-7 true
	// laptop-1 true true
}
