package client_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/codec"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// Call a protobuf service with typed messages, and recognize a business
// error the application declared once as a code.
func ExampleCallTyped() {
	// Declared once, shared by the server and the device.
	const ErrUnknownRaven ratatoskrhttp.Code = "UNKNOWN_RAVEN"

	secret := []byte("example-secret-of-at-least-32-bytes!")
	verifier, err := auth.NewJWT(auth.WithHMACSecret(secret))
	if err != nil {
		log.Fatal(err)
	}
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: verifier})
	h.Handle("raven", ratatoskrhttp.Typed(codec.Proto{}, func(ctx context.Context, r *ratatoskrhttp.Request, in *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
		switch in.GetValue() {
		case "Huginn":
			return wrapperspb.String("thought"), nil
		case "Muninn":
			return wrapperspb.String("memory"), nil
		}
		return nil, ratatoskrhttp.NewError(ErrUnknownRaven, "Odin has two ravens")
	}))
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

	// Only the answer's type is written; the request's follows from in.
	meaning, err := client.CallTyped[*wrapperspb.StringValue](ctx, c, codec.Proto{}, "raven", wrapperspb.String("Huginn"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(meaning.GetValue())

	_, err = client.CallTyped[*wrapperspb.StringValue](ctx, c, codec.Proto{}, "raven", wrapperspb.String("Sleipnir"))
	fmt.Println(errors.Is(err, ErrUnknownRaven), err)
	// Output:
	// thought
	// true UNKNOWN_RAVEN: Odin has two ravens
}
