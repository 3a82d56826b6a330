package ratatoskrpb_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// The wire bytes below were derived by hand from the protobuf encoding
// rules (tag = field<<3 | wire type; varints 7 bits at a time), not from
// this code, so a field-number or enum slip in ratatoskr.proto cannot
// pass. docs/PROTOCOL.md shows them too.

// goldenWire is the encoding of goldenWireRequest, field by field.
const goldenWire = "" +
	"0803" + // 1 message_type: varint 3 (BUSINESS_REQUEST)
	"12027231" + // 2 request_id: "r1"
	"1a026431" + // 3 device_id: "d1"
	"22027531" + // 4 user_id: "u1"
	"2880e2cfaa06" + // 5 timestamp: varint 1700000000
	"32080001020304050607" + // 6 nonce: 8 bytes 00..07
	"3a03736967" + // 7 signature: "sig"
	"42026869" + // 8 payload: "hi"
	"4a0f" + "0a0773657276696365" + "12046563686f" // 9 metadata entry {"service": "echo"}

func goldenWireRequest() *pb.RatatoskrRequest {
	return &pb.RatatoskrRequest{
		MessageType: pb.MessageType_BUSINESS_REQUEST,
		RequestId:   "r1",
		DeviceId:    "d1",
		UserId:      "u1",
		Timestamp:   1700000000,
		Nonce:       []byte{0, 1, 2, 3, 4, 5, 6, 7},
		Signature:   []byte("sig"),
		Payload:     []byte("hi"),
		Metadata:    map[string]string{"service": "echo"},
	}
}

func TestGoldenWireBytes(t *testing.T) {
	want, err := hex.DecodeString(goldenWire)
	if err != nil {
		t.Fatal(err)
	}
	got, err := proto.MarshalOptions{Deterministic: true}.Marshal(goldenWireRequest())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("wire bytes\n got %x\nwant %x", got, want)
	}
	var back pb.RatatoskrRequest
	if err := proto.Unmarshal(want, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&back, goldenWireRequest()) {
		t.Fatalf("decoded golden bytes differ: %v", &back)
	}
}

// Payload messages and the response, field by field.
func TestGoldenPayloadBytes(t *testing.T) {
	cases := []struct {
		msg  proto.Message
		want string
	}{
		{&pb.ConnectionRequestPayload{DeviceIdentity: "d", AuthenticationToken: "t", Version: "1"},
			"0a0164" + "120174" + "1a0131"},
		{&pb.ConnectionResponsePayload{Accepted: true, SessionId: "s", ExpiresAt: 300, ServerVersion: "v"},
			"0801" + "120173" + "18ac02" + "220176"},
		{&pb.RatatoskrResponse{MessageType: pb.MessageType_ERROR, RequestId: "r", Timestamp: 1, Success: true,
			ErrorCode: "E", ErrorMessage: "m", Payload: []byte{0xff}, Metadata: map[string]string{"a": "b"}},
			"0806" + "120172" + "1801" + "2001" + "2a0145" + "32016d" + "3a01ff" + "4206" + "0a0161" + "120162"},
	}
	for _, tc := range cases {
		got, err := proto.MarshalOptions{Deterministic: true}.Marshal(tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != tc.want {
			t.Errorf("%T\n got %x\nwant %s", tc.msg, got, tc.want)
		}
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	msgs := []proto.Message{
		goldenWireRequest(),
		&pb.RatatoskrResponse{MessageType: pb.MessageType_ERROR, RequestId: "r", Timestamp: -5, Success: false,
			ErrorCode: "MALFORMED", ErrorMessage: "bad", Payload: []byte{0}, Metadata: map[string]string{"a": "b"}},
		&pb.ConnectionRequestPayload{DeviceIdentity: "d", AuthenticationToken: "t.t.t", Version: "1"},
		&pb.ConnectionResponsePayload{Accepted: true, SessionId: "s", ExpiresAt: 1700003600, ServerVersion: "go/1"},
	}
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back := m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(b, back); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(m, back) {
			t.Errorf("%T did not round-trip: %v vs %v", m, m, back)
		}
	}
}

// Enum values are part of the wire contract.
func TestEnumValues(t *testing.T) {
	want := map[pb.MessageType]int32{
		pb.MessageType_UNKNOWN: 0, pb.MessageType_CONNECTION_REQUEST: 1, pb.MessageType_CONNECTION_RESPONSE: 2,
		pb.MessageType_BUSINESS_REQUEST: 3, pb.MessageType_HEARTBEAT: 4, pb.MessageType_DISCONNECT: 5, pb.MessageType_ERROR: 6,
	}
	for k, v := range want {
		if int32(k) != v {
			t.Errorf("%v = %d, want %d", k, int32(k), v)
		}
	}
}
