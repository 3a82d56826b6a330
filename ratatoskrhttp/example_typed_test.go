package ratatoskrhttp_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/codec"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// Serve a typed JSON service: the payload arrives decoded, the answer is
// encoded, and business errors are codes declared once.
func ExampleTyped() {
	type Order struct {
		Item string `json:"item"`
		Qty  int    `json:"qty"`
	}
	type Receipt struct {
		User  string `json:"user"`
		Total int    `json:"total"`
	}
	// Declared once, shared by the server and the device.
	const ErrPaymentDeclined ratatoskrhttp.Code = "PAYMENT_DECLINED"

	secret := []byte("example-secret-of-at-least-32-bytes")
	a, err := auth.NewJWT(auth.WithHMACSecret(secret))
	if err != nil {
		log.Fatal(err)
	}
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: a})
	h.Handle("checkout", ratatoskrhttp.Typed(codec.JSON{}, func(ctx context.Context, r *ratatoskrhttp.Request, o Order) (Receipt, error) {
		if o.Qty > 10 {
			return Receipt{}, ratatoskrhttp.Errorf(ErrPaymentDeclined, "%d is over your limit", o.Qty)
		}
		return Receipt{User: r.UserID, Total: 3 * o.Qty}, nil
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Shutdown(context.Background())

	// A device calls it with typed values.
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

	receipt, err := client.CallTyped[Receipt](ctx, c, codec.JSON{}, "checkout", Order{Item: "mead", Qty: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s pays %d\n", receipt.User, receipt.Total)

	_, err = client.CallTyped[Receipt](ctx, c, codec.JSON{}, "checkout", Order{Item: "mead", Qty: 99})
	fmt.Println(errors.Is(err, ErrPaymentDeclined), err)

	// A payload that does not decode never reaches the function.
	_, err = c.Call(ctx, "checkout", []byte(`{"item":"mead","qty":2,"discount":100}`))
	fmt.Println(err)
	// Output:
	// alice pays 6
	// true PAYMENT_DECLINED: 99 is over your limit
	// SCHEMA_INVALID: payload does not decode as json: "json: unknown field \"discount\""
}
