package ratatoskrhttp_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/codec"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// Charge and Receipt are a payments service's request and answer.
type Charge struct {
	AmountCents int    `json:"amount_cents"`
	Currency    string `json:"currency"`
}

type Receipt struct {
	PaymentID string `json:"payment_id"`
}

// ErrCardDeclined is a business error, declared once as a code.
const ErrCardDeclined ratatoskrhttp.Code = "CARD_DECLINED"

// The README's integration example: a typed service mounted in a chi
// router next to REST routes, a device calling it, and a shutdown that
// waits for every session.
func Example_integration() {
	secret := []byte("example-secret-of-at-least-32-bytes")
	a, _ := auth.NewJWT(auth.WithHMACSecret(secret)) // or WithRemoteJWKS, WithPublicKeyPEM
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: a, Logger: slog.New(slog.DiscardHandler)})
	h.Use(ratatoskrhttp.Recoverer(nil))
	h.Handle("heidrun", ratatoskrhttp.Typed(codec.JSON{}, func(ctx context.Context, r *ratatoskrhttp.Request, c Charge) (Receipt, error) {
		// r.UserID, r.DeviceID: authenticated; the request is signed and not a replay.
		if c.AmountCents > 50000 {
			return Receipt{}, ratatoskrhttp.NewError(ErrCardDeclined, "over 500.00 per charge")
		}
		return Receipt{PaymentID: "pay_1"}, nil
	}))

	router := chi.NewRouter()
	router.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	router.Mount("/ratatoskr", h)
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)

	// A device: its key, a token from the issuer, a typed call.
	pub, key, _ := ed25519.GenerateKey(nil)
	token, _ := auth.Mint(secret, auth.MintOptions{UserID: "alice", DeviceID: "phone-1", DevicePublicKey: pub})
	ctx := context.Background()
	c, err := client.Dial(ctx, "ws://"+ln.Addr().String()+"/ratatoskr", &client.Options{
		UserID: "alice", DeviceID: "phone-1", PrivateKey: key, Token: token})
	if err != nil {
		fmt.Println(err)
		return
	}
	receipt, err := client.CallTyped[Receipt](ctx, c, codec.JSON{}, "heidrun", Charge{AmountCents: 1250, Currency: "EUR"})
	fmt.Println(receipt.PaymentID, err)
	_, err = client.CallTyped[Receipt](ctx, c, codec.JSON{}, "heidrun", Charge{AmountCents: 900000, Currency: "EUR"})
	fmt.Println(errors.Is(err, ErrCardDeclined))

	// On SIGTERM: stop taking connections and wait for every session's
	// DISCONNECT, within a timeout that starts now.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fmt.Println(ratatoskrhttp.ShutdownServer(shutdownCtx, srv, h))
	<-c.Done()
	fmt.Println(c.Err() != nil)
	// Output:
	// pay_1 <nil>
	// true
	// <nil>
	// true
}
