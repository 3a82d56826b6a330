// Package exchange is the device side of the example: one complete signed
// Ratatoskr exchange, told step by step in plain words. example/client runs
// it against a server you started, example/demo against one in-process, and
// the tests against httptest.
package exchange

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/api"
)

// StepTimeout bounds each step of Run (the handshake, each call).
const StepTimeout = 10 * time.Second

// TokenTTL is the lifetime of the device token Run mints.
const TokenTTL = time.Hour

// The amounts Run charges: one under heidrun's limit, one over it.
const (
	ChargeCents   = 1250
	DeclinedCents = 500_000
)

// Config describes the device Run plays and the server it talks to.
type Config struct {
	// URL is the server's Ratatoskr endpoint, ws:// or wss://. Required.
	URL string
	// UserID and DeviceID identify the device. Required.
	UserID, DeviceID string
	// Secret is the HS256 secret the device token is minted with, the one
	// the server verifies with. Required unless SigningKey is set.
	Secret []byte
	// SigningKey, when set, mints the token with an issuer's private key
	// instead (Ed25519: EdDSA, ECDSA: ES256/384/512 by curve, RSA: RS256),
	// for a server started with -jwt-public-key.
	SigningKey crypto.Signer
	// Issuer and Audience, when set, become the token's "iss" and "aud",
	// for a server that requires them.
	Issuer, Audience string
	// TLSConfig configures wss:// (for instance RootCAs trusting a dev
	// certificate). Defaults to the system roots.
	TLSConfig *tls.Config
}

// Run performs the exchange a device makes, printing each step to out: it
// makes an Ed25519 key, mints a device token binding it, connects, calls
// echo, nornen (list offers, register a provider) and heidrun (a captured
// charge, then a declined one, expecting PAYMENT_DECLINED), sends a
// heartbeat and disconnects. It returns an error at the first step that
// does not go as expected.
func Run(ctx context.Context, cfg Config, out io.Writer) (err error) {
	step := 0
	say := func(format string, args ...any) {
		step++
		fmt.Fprintf(out, "%2d. "+format+"\n", append([]any{step}, args...)...)
	}
	if cfg.URL == "" || cfg.UserID == "" || cfg.DeviceID == "" {
		return errors.New("exchange: URL, UserID and DeviceID are required")
	}

	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return fmt.Errorf("exchange: generating the device key: %w", err)
	}
	say("Device %q of user %q made an Ed25519 key pair; the private key never leaves the device.", cfg.DeviceID, cfg.UserID)

	token, alg, err := mint(cfg, pub)
	if err != nil {
		return fmt.Errorf("exchange: minting the device token: %w", err)
	}
	say("Minted a device token (%s, valid %v) naming the user, the device and the device's public key.", alg, TokenTTL)

	dctx, cancel := context.WithTimeout(ctx, StepTimeout)
	c, err := client.Dial(dctx, cfg.URL, &client.Options{
		UserID:     cfg.UserID,
		DeviceID:   cfg.DeviceID,
		PrivateKey: key,
		Token:      token,
		TLSConfig:  cfg.TLSConfig,
	})
	cancel()
	if err != nil {
		if envelope.CodeOf(err) == envelope.CodeAuthFailed {
			err = fmt.Errorf("%w (do the client's and the server's JWT secret, issuer and audience match?)", err)
		}
		return fmt.Errorf("exchange: connecting to %s: %w", cfg.URL, err)
	}
	closed := false
	defer func() {
		if !closed {
			c.Close() // the error that brought us here matters more
		}
	}()
	sess := c.Session()
	say("Connected to %s with a signed CONNECTION_REQUEST: session %s, expires at %s (in %v), server %s.",
		cfg.URL, sess.ID, sess.ExpiresAt.Format(time.RFC3339), time.Until(sess.ExpiresAt).Round(time.Minute), sess.ServerVersion)

	const hello = "hello, Yggdrasil"
	resp, err := call(ctx, c, api.ServiceEcho, []byte(hello))
	if err != nil {
		return err
	}
	if string(resp) != hello {
		return fmt.Errorf("exchange: echo answered %q, want %q", resp, hello)
	}
	say("echo: sent %q and got %q back; the server checked its signature, timestamp and nonce.", hello, resp)

	var offers api.Offers
	if err := callJSON(ctx, c, api.ServiceNornen, api.NornenRequest{Action: api.ActionListOffers}, &offers); err != nil {
		return err
	}
	if len(offers.Offers) == 0 {
		return errors.New("exchange: nornen listed no offers")
	}
	o := offers.Offers[0]
	say("nornen: %d offers on the marketplace, for instance %q at %s %s.", len(offers.Offers), o.Title, api.Cents(o.PriceCents), o.Currency)

	var reg api.Registered
	name := cfg.UserID + "'s workshop"
	if err := callJSON(ctx, c, api.ServiceNornen, api.NornenRequest{Action: api.ActionRegisterProvider, Name: name, Category: "crafts"}, &reg); err != nil {
		return err
	}
	if reg.Provider.Owner != cfg.UserID {
		return fmt.Errorf("exchange: nornen registered the provider for %q, want %q", reg.Provider.Owner, cfg.UserID)
	}
	verb := "registered"
	if !reg.Created {
		verb = "already had"
	}
	say("nornen: %s provider %q as %s, owned by %s (the user the token authenticated).", verb, reg.Provider.Name, reg.Provider.ID, reg.Provider.Owner)

	var pay api.Payment
	charge := api.HeidrunRequest{Action: api.ActionCharge, AmountCents: ChargeCents, Currency: "EUR", Description: "Box of golden apples"}
	if err := callJSON(ctx, c, api.ServiceHeidrun, charge, &pay); err != nil {
		return err
	}
	if pay.Status != "captured" || pay.AmountCents != ChargeCents {
		return fmt.Errorf("exchange: heidrun answered %+v, want a captured payment of %d cents", pay, ChargeCents)
	}
	say("heidrun: charged %s %s, payment %s %s.", api.Cents(pay.AmountCents), pay.Currency, pay.ID, pay.Status)

	charge = api.HeidrunRequest{Action: api.ActionCharge, AmountCents: DeclinedCents, Currency: "EUR", Description: "A golden boar"}
	err = callJSON(ctx, c, api.ServiceHeidrun, charge, &pay)
	var declined *envelope.Error
	if !errors.As(err, &declined) || declined.Code() != api.CodePaymentDeclined {
		return fmt.Errorf("exchange: charging %s EUR: got %v, want %s", api.Cents(DeclinedCents), err, api.CodePaymentDeclined)
	}
	say("heidrun: charging %s EUR was declined, as expected, with code %s: %s.", api.Cents(DeclinedCents), declined.Code(), declined.Message())

	hctx, cancel := context.WithTimeout(ctx, StepTimeout)
	err = c.Heartbeat(hctx)
	cancel()
	if err != nil {
		return fmt.Errorf("exchange: heartbeat: %w", err)
	}
	say("Heartbeat answered: the session is alive.")

	closed = true
	if err := c.Close(); err != nil {
		return fmt.Errorf("exchange: disconnecting: %w", err)
	}
	say("Disconnected politely: the server answered the signed DISCONNECT and closed the connection.")
	return nil
}

// call makes one business request, bounded by StepTimeout.
func call(ctx context.Context, c *client.Client, service string, payload []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	resp, err := c.Call(ctx, service, payload)
	if err != nil {
		return nil, fmt.Errorf("exchange: %s: %w", service, err)
	}
	return resp.Payload, nil
}

// callJSON calls service with req as JSON and decodes the answer into resp.
func callJSON(ctx context.Context, c *client.Client, service string, req, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("exchange: %s: %w", service, err)
	}
	b, err = call(ctx, c, service, b)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, resp); err != nil {
		return fmt.Errorf("exchange: %s answered unexpected JSON: %w", service, err)
	}
	return nil
}
