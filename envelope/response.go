package envelope

import (
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Success returns a successful response to a request of type t with id
// requestID.
func Success(t pb.MessageType, requestID string, payload []byte, metadata map[string]string, now time.Time) *pb.RatatoskrResponse {
	return &pb.RatatoskrResponse{
		MessageType: t,
		RequestId:   requestID,
		Timestamp:   now.Unix(),
		Success:     true,
		Payload:     payload,
		Metadata:    metadata,
	}
}

// Failure returns a failed response to a request of type t with id
// requestID. Its error_code is CodeOf(err) and its error_message
// MessageOf(err), so only the messages of *Error values reach the peer.
func Failure(t pb.MessageType, requestID string, err error, now time.Time) *pb.RatatoskrResponse {
	return &pb.RatatoskrResponse{
		MessageType:  t,
		RequestId:    requestID,
		Timestamp:    now.Unix(),
		ErrorCode:    string(CodeOf(err)),
		ErrorMessage: MessageOf(err),
	}
}

// ConnectionAccepted returns the CONNECTION_RESPONSE that accepts a
// handshake.
func ConnectionAccepted(requestID, sessionID string, expiresAt time.Time, serverVersion string, now time.Time) *pb.RatatoskrResponse {
	payload, _ := proto.Marshal(&pb.ConnectionResponsePayload{
		Accepted:      true,
		SessionId:     sessionID,
		ExpiresAt:     expiresAt.Unix(),
		ServerVersion: serverVersion,
	})
	resp := Success(pb.MessageType_CONNECTION_RESPONSE, requestID, payload, nil, now)
	return resp
}

// ConnectionRefused returns the CONNECTION_RESPONSE that refuses a
// handshake because of err.
func ConnectionRefused(requestID string, err error, serverVersion string, now time.Time) *pb.RatatoskrResponse {
	resp := Failure(pb.MessageType_CONNECTION_RESPONSE, requestID, err, now)
	resp.Payload, _ = proto.Marshal(&pb.ConnectionResponsePayload{Accepted: false, ServerVersion: serverVersion})
	return resp
}

// Marshal encodes a response deterministically (sorted metadata).
func Marshal(m proto.Message) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}
