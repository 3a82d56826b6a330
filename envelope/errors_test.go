package envelope_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

func TestCodeKinds(t *testing.T) {
	kinds := map[envelope.Kind]int{}
	for _, c := range envelope.Codes() {
		k := c.Kind()
		if k == envelope.KindApplication {
			t.Errorf("%s has no protocol kind", c)
		}
		kinds[k]++
	}
	if len(envelope.Codes()) != 18 || len(kinds) != 4 {
		t.Fatalf("%d codes in %d kinds", len(envelope.Codes()), len(kinds))
	}
	if envelope.Code("PAYMENT_DECLINED").Kind() != envelope.KindApplication {
		t.Fatal("handler code is not application kind")
	}
	for k, name := range map[envelope.Kind]string{envelope.KindSerialization: "serialization", envelope.KindValidation: "validation",
		envelope.KindConnection: "connection", envelope.KindSecurity: "security", envelope.KindApplication: "application"} {
		if k.String() != name {
			t.Errorf("%d.String() = %q", k, k.String())
		}
	}
}

func TestCodeOf(t *testing.T) {
	if envelope.CodeOf(nil) != "" || envelope.MessageOf(nil) != "" {
		t.Fatal("nil error has a code")
	}
	if envelope.CodeOf(io.EOF) != envelope.CodeInternal || envelope.MessageOf(errors.New("secret db dsn")) != "internal error" {
		t.Fatal("plain errors must be INTERNAL with a generic message")
	}
	inner := envelope.Errorf(envelope.CodeReplayDetected, "nonce %d reused: %w", 7, io.ErrUnexpectedEOF)
	wrapped := fmt.Errorf("context: %w", inner)
	if envelope.CodeOf(wrapped) != envelope.CodeReplayDetected {
		t.Fatal("code lost through wrapping")
	}
	if !errors.Is(wrapped, io.ErrUnexpectedEOF) {
		t.Fatal("cause lost")
	}
	var e *envelope.Error
	if !errors.As(wrapped, &e) || e.Kind() != envelope.KindSecurity || e.Message() != "nonce 7 reused: unexpected EOF" {
		t.Fatalf("errors.As: %v", e)
	}
	if e.Error() != "REPLAY_DETECTED: nonce 7 reused: unexpected EOF" {
		t.Fatalf("Error() = %q", e.Error())
	}
	if got := envelope.NewError("PAYMENT_DECLINED", "").Error(); got != "PAYMENT_DECLINED" {
		t.Fatalf("Error() = %q", got)
	}
	w := envelope.WrapError(envelope.CodeUnavailable, "try later", io.EOF)
	if !errors.Is(w, io.EOF) || w.Message() != "try later" {
		t.Fatal("WrapError")
	}
}

func TestResponses(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	r := envelope.Failure(pb.MessageType_BUSINESS_REQUEST, "id-1", errors.New("db password wrong"), now)
	if r.Success || r.ErrorCode != "INTERNAL" || r.ErrorMessage != "internal error" || r.RequestId != "id-1" || r.Timestamp != now.Unix() {
		t.Fatalf("failure: %v", r)
	}
	ok := envelope.Success(pb.MessageType_HEARTBEAT, "id-2", nil, nil, now)
	if !ok.Success || ok.MessageType != pb.MessageType_HEARTBEAT || ok.RequestId != "id-2" {
		t.Fatalf("success: %v", ok)
	}
	acc := envelope.ConnectionAccepted("id-3", "sess", now.Add(time.Hour), "go/1", now)
	ref := envelope.ConnectionRefused("id-4", envelope.NewError(envelope.CodeAuthFailed, "bad token"), "go/1", now)
	if !acc.Success || ref.Success || ref.ErrorCode != "AUTH_FAILED" || len(ref.Payload) == 0 {
		t.Fatalf("connection responses: %v %v", acc, ref)
	}
}

func TestConnectionPayloadCodes(t *testing.T) {
	req := &pb.RatatoskrRequest{DeviceId: "phone-1"}
	for _, tc := range []struct {
		name    string
		payload []byte
		code    envelope.Code
	}{
		{"not protobuf", []byte{0xff, 0xff}, envelope.CodeMalformed},
		{"no token", mustMarshal(t, &pb.ConnectionRequestPayload{DeviceIdentity: "phone-1", Version: "1"}), envelope.CodeSchemaInvalid},
		{"other device", mustMarshal(t, &pb.ConnectionRequestPayload{DeviceIdentity: "phone-2", AuthenticationToken: "t"}), envelope.CodeIdentityMismatch},
	} {
		req.Payload = tc.payload
		if _, err := envelope.ConnectionPayload(req); envelope.CodeOf(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	req.Payload = mustMarshal(t, &pb.ConnectionRequestPayload{AuthenticationToken: "t", Version: "1"})
	if p, err := envelope.ConnectionPayload(req); err != nil || p.GetAuthenticationToken() != "t" {
		t.Fatalf("device_identity may be empty: %v %v", p, err)
	}
	if _, err := envelope.ConnectionResult(&pb.RatatoskrResponse{Payload: []byte{0xff}}); envelope.CodeOf(err) != envelope.CodeMalformed {
		t.Fatalf("connection result: %v", err)
	}
}

func TestVerifyRefusesBadKeys(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	req := &pb.RatatoskrRequest{RequestId: "r", DeviceId: "d", UserId: "u", Nonce: make([]byte, 8)}
	envelope.Sign(req, key)
	for _, k := range []ed25519.PublicKey{nil, pub[:31], append(pub[:32:32], 0)} {
		if err := envelope.Verify(req, k); envelope.CodeOf(err) != envelope.CodeAuthFailed {
			t.Errorf("key of %d bytes: %v, want AUTH_FAILED", len(k), err)
		}
	}
	if err := envelope.Verify(req, pub); err != nil {
		t.Fatal(err)
	}
}

func TestResponseError(t *testing.T) {
	if err := envelope.ResponseError(&pb.RatatoskrResponse{Success: true}); err != nil {
		t.Fatal(err)
	}
	err := envelope.ResponseError(&pb.RatatoskrResponse{ErrorCode: "PAYMENT_DECLINED", ErrorMessage: "no"})
	if envelope.CodeOf(err) != "PAYMENT_DECLINED" || envelope.MessageOf(err) != "no" {
		t.Fatalf("coded: %v", err)
	}
	if envelope.CodeOf(envelope.ResponseError(&pb.RatatoskrResponse{})) != envelope.CodeInternal {
		t.Fatal("a failure without a code must read as INTERNAL")
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A Code matches, through errors.Is, every *Error carrying it, however
// wrapped, and nothing else.
func TestCodeMatchesErrors(t *testing.T) {
	const declined envelope.Code = "PAYMENT_DECLINED"
	err := fmt.Errorf("charging: %w", envelope.Errorf(declined, "over %d", 500))
	if !errors.Is(err, declined) || errors.Is(err, envelope.CodeInternal) {
		t.Fatal("errors.Is by code")
	}
	if errors.Is(errors.New("PAYMENT_DECLINED"), declined) {
		t.Fatal("a plain error with the code's text matched")
	}
	if declined.Error() != "PAYMENT_DECLINED" {
		t.Fatal(declined.Error())
	}
}

// A service may return a declared Code as its error: it reaches the peer
// as that code, with the code as its message, not as INTERNAL.
func TestBareCodeAsError(t *testing.T) {
	const declined envelope.Code = "PAYMENT_DECLINED"
	err := fmt.Errorf("charging: %w", declined)
	if envelope.CodeOf(err) != declined || envelope.MessageOf(err) != "PAYMENT_DECLINED" {
		t.Fatalf("CodeOf %q, MessageOf %q", envelope.CodeOf(err), envelope.MessageOf(err))
	}
	if envelope.CodeOf(errors.New("boom")) != envelope.CodeInternal {
		t.Fatal("an uncoded error must stay INTERNAL")
	}
}
