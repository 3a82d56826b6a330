package client_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

func ExampleDial() {
	// A server with an echo service, trusting HS256 device tokens.
	secret := []byte("example-secret-of-at-least-32-bytes!")
	verifier, err := auth.NewJWT(auth.WithHMACSecret(secret))
	if err != nil {
		log.Fatal(err)
	}
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: verifier})
	h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: r.Payload}, nil
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	// The device: its key, and a token binding that key to it.
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		log.Fatal(err)
	}
	token, err := auth.MintHS256(secret, auth.MintOptions{UserID: "alice", DeviceID: "phone-1", DevicePublicKey: pub})
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &client.Options{
		DeviceID:   "phone-1",
		UserID:     "alice",
		PrivateKey: key,
		Token:      token,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	resp, err := c.Call(ctx, "echo", []byte("hello, Yggdrasil"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(resp.Payload))
	// Output: hello, Yggdrasil
}

func ExampleRetryable() {
	secret := []byte("example-secret-of-at-least-32-bytes!")
	verifier, err := auth.NewJWT(auth.WithHMACSecret(secret))
	if err != nil {
		log.Fatal(err)
	}
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: verifier})
	// A service that is unavailable the first time it is asked.
	var asked atomic.Int32
	h.HandleFunc("stock", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		if asked.Add(1) == 1 {
			return nil, envelope.NewError(envelope.CodeUnavailable, "warehouse offline")
		}
		return &ratatoskrhttp.Response{Payload: []byte("42 left")}, nil
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		log.Fatal(err)
	}
	token, err := auth.MintHS256(secret, auth.MintOptions{UserID: "alice", DeviceID: "phone-1", DevicePublicKey: pub})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &client.Options{
		DeviceID: "phone-1", UserID: "alice", PrivateKey: key, Token: token,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Reading the stock changes nothing, so the application may repeat it.
	for attempt := 1; ; attempt++ {
		resp, err := c.Call(ctx, "stock", nil)
		if err == nil {
			fmt.Println(string(resp.Payload))
			return
		}
		fmt.Println(envelope.CodeOf(err), client.Retryable(err))
		if !client.Retryable(err) || attempt == 3 {
			return
		}
		time.Sleep(10 * time.Millisecond << attempt) // back off
	}
	// Output:
	// UNAVAILABLE true
	// 42 left
}

func ExampleReconnectOptions() {
	var (
		deviceKey ed25519.PrivateKey
		newToken  func(ctx context.Context) (string, error) // asks the token service
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "wss://api.example.com/ratatoskr", &client.Options{
		DeviceID:    "phone-1",
		UserID:      "alice",
		PrivateKey:  deviceKey,
		TokenSource: newToken, // each reconnection gets a fresh token
		Reconnect: &client.ReconnectOptions{
			MaxDelay:          time.Minute,
			WaitForConnection: true, // calls wait for the new connection, within their ctx
			OnState: func(s client.State, err error) {
				log.Printf("ratatoskr: %v (%v)", s, err) // quick: runs on the client's goroutine
			},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	go func() {
		<-c.Done() // only for Close, or a reason that forbids reconnecting
		log.Printf("ratatoskr: ended: %v", c.Err())
	}()
}
