package envelope_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

func ExampleValidator() {
	pub, key, _ := ed25519.GenerateKey(nil)

	// Device side: build and sign a business request.
	signer := &envelope.Signer{DeviceID: "phone-1", UserID: "alice", Key: key}
	req, _ := signer.Business("echo", []byte("hello"), nil)
	frame, _ := proto.Marshal(req)

	// Server side: decode and validate it, then see the replay refused.
	v := envelope.NewValidator(nil)
	dk, err := envelope.NewDeviceKey(pub) // once per token, not per request
	if err != nil {
		panic(err)
	}
	want := envelope.Expect{UserID: "alice", DeviceID: "phone-1", Key: dk}
	for range 2 {
		got, err := v.Decode(frame)
		if err == nil {
			err = v.Validate(context.Background(), got, want)
		}
		fmt.Printf("%q\n", envelope.CodeOf(err))
	}
	// Output:
	// ""
	// "REPLAY_DETECTED"
}

func ExampleCodeOf() {
	err := fmt.Errorf("charging card: %w", envelope.NewError("PAYMENT_DECLINED", "card declined"))
	fmt.Println(envelope.CodeOf(err), envelope.MessageOf(err))
	fmt.Println(envelope.CodeOf(fmt.Errorf("db down")), envelope.MessageOf(fmt.Errorf("db down")))
	// Output:
	// PAYMENT_DECLINED card declined
	// INTERNAL internal error
}

// A server signs its answer to a request; the device, holding the
// server's public key, checks that the answer is the server's and is for
// its own request.
func ExampleVerifyResponse() {
	_, deviceKey, _ := ed25519.GenerateKey(nil)
	serverPub, serverKey, _ := ed25519.GenerateKey(nil)

	signer := &envelope.Signer{DeviceID: "phone-1", UserID: "alice", Key: deviceKey, Scheme: envelope.SchemeV2}
	req, _ := signer.Business("payments", []byte(`{"amount":"12.50"}`), nil)
	reqDigest := envelope.DigestV2(req)

	// Server side: the answer, bound to the session and to req.
	resp := envelope.Success(req.GetMessageType(), req.GetRequestId(), []byte(`{"status":"captured"}`), nil, time.Now())
	envelope.SignResponse(serverKey, "session-1", &reqDigest, resp)

	// Device side.
	fmt.Println(envelope.VerifyResponse(serverPub, "session-1", &reqDigest, resp) == nil)
	resp.Payload = []byte(`{"status":"declined"}`) // altered on the way
	fmt.Println(envelope.CodeOf(envelope.VerifyResponse(serverPub, "session-1", &reqDigest, resp)))
	// Output:
	// true
	// SIGNATURE_INVALID
}
