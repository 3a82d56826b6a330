package envelope

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"

	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Scheme is a request signature scheme (see docs/PROTOCOL.md).
type Scheme uint8

const (
	// SchemeV1 is the reference implementation's scheme: SHA-256 over
	// request_id, device_id, user_id, timestamp, nonce and payload,
	// concatenated without lengths. It covers neither message_type nor
	// metadata. The zero Scheme means SchemeV1.
	SchemeV1 Scheme = 1
	// SchemeV2 covers every field with its length under a fixed context
	// string: message_type, the ids, timestamp, nonce, the payload's
	// SHA-256 and the metadata in key order.
	SchemeV2 Scheme = 2
)

// MetadataScheme is the metadata key of a CONNECTION_REQUEST that names
// the scheme it is signed with ("v2"; absent means v1), and of an accepting
// CONNECTION_RESPONSE that names the session's scheme.
const MetadataScheme = "sig.scheme"

// String returns "v1" or "v2".
func (s Scheme) String() string {
	if s == SchemeV2 {
		return "v2"
	}
	return "v1"
}

// Digest returns req's signing digest under s.
func (s Scheme) Digest(req *pb.RatatoskrRequest) [sha256.Size]byte {
	if s == SchemeV2 {
		return DigestV2(req)
	}
	return Digest(req)
}

// SchemeOf returns the scheme a CONNECTION_REQUEST says it is signed with
// (metadata "sig.scheme": absent or "v1", or "v2"). Any other value is an
// *Error with CodeSignatureInvalid.
func SchemeOf(req *pb.RatatoskrRequest) (Scheme, error) {
	switch v, ok := req.GetMetadata()[MetadataScheme]; {
	case !ok, v == "v1":
		return SchemeV1, nil
	case v == "v2":
		return SchemeV2, nil
	default:
		return 0, Errorf(CodeSignatureInvalid, "unknown signature scheme %s", Quote(v))
	}
}

// Context strings of the v2 request digest and of the response digest:
// each names what is signed and its version, with a zero byte after.
const (
	requestContextV2 = "ratatoskr/request/v2\x00"
	responseContext  = "ratatoskr/response/v1\x00"
)

// DigestV2 returns the v2 signing digest of req:
//
//	SHA-256("ratatoskr/request/v2" ‖ 00 ‖ BE32(message_type)
//	        ‖ LP(request_id) ‖ LP(device_id) ‖ LP(user_id) ‖ BE64(timestamp)
//	        ‖ LP(nonce) ‖ SHA-256(payload)
//	        ‖ BE32(n) ‖ LP(key) ‖ LP(value) for each metadata entry in key order)
//
// where LP(x) is BE32(len(x)) ‖ x. Unlike v1 it covers every field, so a
// request cannot be re-routed, re-typed or re-cut without breaking its
// signature.
func DigestV2(req *pb.RatatoskrRequest) [sha256.Size]byte {
	var stack [512]byte
	b := append(stack[:0], requestContextV2...)
	b = binary.BigEndian.AppendUint32(b, uint32(req.GetMessageType()))
	b = appendLP(b, req.GetRequestId())
	b = appendLP(b, req.GetDeviceId())
	b = appendLP(b, req.GetUserId())
	b = binary.BigEndian.AppendUint64(b, uint64(req.GetTimestamp()))
	b = appendLP(b, req.GetNonce())
	payload := sha256.Sum256(req.GetPayload())
	b = append(b, payload[:]...)
	b = appendMetadata(b, req.GetMetadata())
	return sha256.Sum256(b)
}

// appendLP appends BE32(len(s)) ‖ s.
func appendLP[T string | []byte](b []byte, s T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// appendMetadata appends BE32(len(md)) and each entry, LP(key) ‖ LP(value),
// in ascending byte order of the keys.
func appendMetadata(b []byte, md map[string]string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(md)))
	var stack [8]string
	keys := stack[:0]
	for k := range md {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendLP(b, k)
		b = appendLP(b, md[k])
	}
	return b
}
