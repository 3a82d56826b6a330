// Command client is an example device: it makes a key, mints its device
// token, connects to a Ratatoskr server and performs one signed exchange
// with the example services, printing each step.
//
//	go run ./example/server &   # in another terminal
//	go run ./example/client -user alice -device phone-1
//
// It exits with status 1 when a step does not go as expected. See
// example/README.md.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/ratatoskr-proto/ratatoskr/example/internal/devsecret"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/exchange"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "ws://127.0.0.1:8080/ratatoskr", "the server's Ratatoskr endpoint (ws:// or wss://)")
	secret := flag.String("jwt-secret", "", "HS256 secret to mint the device token with, the server's (env RATATOSKR_JWT_SECRET;\ndefault: the public development secret)")
	signingKey := flag.String("jwt-private-key", "", "PEM file with an issuer's private key (Ed25519, ECDSA or RSA) to mint the token with instead,\nfor a server started with -jwt-public-key")
	issuer := flag.String("jwt-issuer", "", `"iss" of the token, for a server started with -jwt-issuer`)
	audience := flag.String("jwt-audience", "", `"aud" of the token, for a server started with -jwt-audience`)
	user := flag.String("user", "alice", "user id")
	device := flag.String("device", "phone-1", "device id")
	caCert := flag.String("ca-cert", "", "PEM file of a CA (or self-signed certificate) to trust for wss://")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	cfg := exchange.Config{URL: *url, UserID: *user, DeviceID: *device, Issuer: *issuer, Audience: *audience}
	if *signingKey != "" {
		pem, err := os.ReadFile(*signingKey)
		if err != nil {
			return fmt.Errorf("reading -jwt-private-key: %w", err)
		}
		if cfg.SigningKey, err = exchange.ParseSigningKey(pem); err != nil {
			return err
		}
	} else {
		if *secret == "" {
			*secret = os.Getenv("RATATOSKR_JWT_SECRET")
		}
		if *secret == "" {
			fmt.Fprintln(os.Stderr, "client: warning:", devsecret.Warning)
			*secret = devsecret.Secret
		}
		cfg.Secret = []byte(*secret)
	}
	if *caCert != "" {
		pem, err := os.ReadFile(*caCert)
		if err != nil {
			return fmt.Errorf("reading -ca-cert: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return errors.New("-ca-cert holds no PEM certificate")
		}
		cfg.TLSConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := exchange.Run(ctx, cfg, os.Stdout); err != nil {
		return err
	}
	fmt.Println("Exchange complete.")
	return nil
}
