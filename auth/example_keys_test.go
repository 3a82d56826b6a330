package auth_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/ratatoskr-proto/ratatoskr/auth"
)

func ExampleWithRemoteJWKS() {
	// The identity provider publishes its signing key at its jwks_uri.
	_, issuerKey, _ := ed25519.GenerateKey(nil)
	jwk := auth.ConfirmationJWK(issuerKey.Public().(ed25519.PublicKey))
	jwk["kid"] = "2026-01"
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []any{jwk}})
	}))
	defer idp.Close()

	// The server follows it (https in production; http only to loopback).
	a, err := auth.NewJWT(auth.WithRemoteJWKS(idp.URL, nil))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close() // stops the background refresh

	devicePub, _, _ := ed25519.GenerateKey(nil)
	token, _ := auth.Mint(issuerKey, auth.MintOptions{UserID: "user-42", DeviceID: "phone-7", DevicePublicKey: devicePub, KeyID: "2026-01"})
	id, err := a.Authenticate(context.Background(), token)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(id.UserID, id.DeviceID)
	// Output: user-42 phone-7
}

func ExampleJWT_SetKeys() {
	oldSecret := []byte("the-old-secret-of-32-bytes-!!!!!")
	newSecret := []byte("the-new-secret-of-32-bytes-!!!!!")
	devicePub, _, _ := ed25519.GenerateKey(nil)
	mint := func(secret []byte) string {
		t, _ := auth.MintHS256(secret, auth.MintOptions{UserID: "user-42", DeviceID: "phone-7", DevicePublicKey: devicePub})
		return t
	}

	a, err := auth.NewJWT(auth.WithHMACSecret(oldSecret))
	if err != nil {
		fmt.Println(err)
		return
	}
	// Rotation, while the server runs: accept both secrets for a while...
	if err := a.SetKeys(auth.WithHMACSecret(newSecret), auth.WithHMACSecret(oldSecret)); err != nil {
		fmt.Println(err)
		return
	}
	_, errOld := a.Authenticate(context.Background(), mint(oldSecret))
	_, errNew := a.Authenticate(context.Background(), mint(newSecret))
	fmt.Println(errOld == nil, errNew == nil)

	// ...then retire the old one.
	if err := a.SetKeys(auth.WithHMACSecret(newSecret)); err != nil {
		fmt.Println(err)
		return
	}
	_, errOld = a.Authenticate(context.Background(), mint(oldSecret))
	fmt.Println(errors.Is(errOld, auth.ErrInvalidToken))
	// Output:
	// true true
	// true
}
