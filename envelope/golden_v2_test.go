package envelope_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// v2Vectors is testdata/v2_vectors.json, computed with Python's hashlib and
// OpenSSL from docs/PROTOCOL.md alone (testdata/v2_vectors.py), not from
// this code.
type v2Vectors struct {
	Request    []v2Request `json:"request_v2"`
	Response   []v2Response
	MovedBytes struct {
		Cases []v2Request `json:"cases"`
	} `json:"moved_bytes"`
}

type v2Request struct {
	Name        string      `json:"name"`
	Seed        hexBytes    `json:"seed_hex"`
	PublicKey   hexBytes    `json:"public_key_hex"`
	MessageType int32       `json:"message_type"`
	RequestID   hexBytes    `json:"request_id_hex"`
	DeviceID    hexBytes    `json:"device_id_hex"`
	UserID      hexBytes    `json:"user_id_hex"`
	Timestamp   int64       `json:"timestamp"`
	Nonce       hexBytes    `json:"nonce_hex"`
	Payload     hexBytes    `json:"payload_hex"`
	Metadata    [][2]string `json:"metadata_hex"`
	DigestV2    hexBytes    `json:"digest_v2_hex"`
	DigestV1    hexBytes    `json:"digest_v1_hex"`
	Signature   hexBytes    `json:"signature_hex"`
}

type v2Response struct {
	Name          string      `json:"name"`
	ServerSeed    hexBytes    `json:"server_seed_hex"`
	ServerPublic  hexBytes    `json:"server_public_key_hex"`
	KeyID         string      `json:"server_key_id"`
	SessionID     hexBytes    `json:"session_id_hex"`
	RequestDigest hexBytes    `json:"request_digest_hex"`
	MessageType   int32       `json:"message_type"`
	RequestID     hexBytes    `json:"request_id_hex"`
	Timestamp     int64       `json:"timestamp"`
	Success       bool        `json:"success"`
	ErrorCode     hexBytes    `json:"error_code_hex"`
	ErrorMessage  hexBytes    `json:"error_message_hex"`
	Payload       hexBytes    `json:"payload_hex"`
	Metadata      [][2]string `json:"metadata_hex"`
	Digest        hexBytes    `json:"digest_hex"`
	Signature     hexBytes    `json:"signature_hex"`
}

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

func metadataOf(t *testing.T, pairs [][2]string) map[string]string {
	if len(pairs) == 0 {
		return nil
	}
	md := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, err1 := hex.DecodeString(p[0])
		v, err2 := hex.DecodeString(p[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("metadata %q", p)
		}
		md[string(k)] = string(v)
	}
	return md
}

func loadV2(t *testing.T) v2Vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/v2_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v v2Vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Request) == 0 || len(v.Response) == 0 || len(v.MovedBytes.Cases) != 2 {
		t.Fatalf("vectors missing: %d requests, %d responses, %d moved", len(v.Request), len(v.Response), len(v.MovedBytes.Cases))
	}
	return v
}

func (r v2Request) request(t *testing.T) *pb.RatatoskrRequest {
	return &pb.RatatoskrRequest{
		MessageType: pb.MessageType(r.MessageType),
		RequestId:   string(r.RequestID),
		DeviceId:    string(r.DeviceID),
		UserId:      string(r.UserID),
		Timestamp:   r.Timestamp,
		Nonce:       r.Nonce,
		Payload:     r.Payload,
		Metadata:    metadataOf(t, r.Metadata),
	}
}

// The v2 request digest and signature match vectors computed
// independently from the protocol document.
func TestGoldenV2Requests(t *testing.T) {
	v := loadV2(t)
	for _, r := range v.Request {
		t.Run(r.Name, func(t *testing.T) {
			req := r.request(t)
			if d := envelope.DigestV2(req); !bytes.Equal(d[:], r.DigestV2) {
				t.Fatalf("digest_v2 %x, want %x", d, r.DigestV2)
			}
			if d := envelope.Digest(req); !bytes.Equal(d[:], r.DigestV1) {
				t.Fatalf("v1 digest %x, want %x", d, r.DigestV1)
			}
			key := ed25519.NewKeyFromSeed(r.Seed)
			if !bytes.Equal(key.Public().(ed25519.PublicKey), r.PublicKey) {
				t.Fatal("public key")
			}
			envelope.SignWith(req, key, envelope.SchemeV2)
			if !bytes.Equal(req.Signature, r.Signature) {
				t.Fatalf("signature %x, want %x", req.Signature, r.Signature)
			}
			dk, err := envelope.NewDeviceKey(ed25519.PublicKey(r.PublicKey))
			if err != nil {
				t.Fatal(err)
			}
			if err := dk.VerifyScheme(req, envelope.SchemeV2); err != nil {
				t.Fatal(err)
			}
			if err := dk.VerifyScheme(req, envelope.SchemeV1); envelope.CodeOf(err) != envelope.CodeSignatureInvalid {
				t.Fatalf("a v2 signature verified as v1: %v", err)
			}
		})
	}
	// v1 cannot tell the two splits apart; v2 can.
	a, b := v.MovedBytes.Cases[0].request(t), v.MovedBytes.Cases[1].request(t)
	if envelope.Digest(a) != envelope.Digest(b) {
		t.Fatal("the moved-bytes pair should share its v1 digest")
	}
	for i, r := range []*pb.RatatoskrRequest{a, b} {
		if d := envelope.DigestV2(r); !bytes.Equal(d[:], v.MovedBytes.Cases[i].DigestV2) {
			t.Fatalf("moved bytes %d: digest_v2 %x, want %x", i, d, v.MovedBytes.Cases[i].DigestV2)
		}
	}
}

// The response digest, signature and key id match the independent
// vectors.
func TestGoldenResponses(t *testing.T) {
	for _, r := range loadV2(t).Response {
		t.Run(r.Name, func(t *testing.T) {
			resp := &pb.RatatoskrResponse{
				MessageType:  pb.MessageType(r.MessageType),
				RequestId:    string(r.RequestID),
				Timestamp:    r.Timestamp,
				Success:      r.Success,
				ErrorCode:    string(r.ErrorCode),
				ErrorMessage: string(r.ErrorMessage),
				Payload:      r.Payload,
				Metadata:     metadataOf(t, r.Metadata),
			}
			var digest *[sha256.Size]byte
			if !bytes.Equal(r.RequestDigest, make([]byte, sha256.Size)) {
				digest = (*[sha256.Size]byte)(r.RequestDigest)
			}
			if d := envelope.ResponseDigest(string(r.SessionID), digest, resp); !bytes.Equal(d[:], r.Digest) {
				t.Fatalf("response digest %x, want %x", d, r.Digest)
			}
			key := ed25519.NewKeyFromSeed(r.ServerSeed)
			pub := key.Public().(ed25519.PublicKey)
			if !bytes.Equal(pub, r.ServerPublic) || envelope.KeyID(pub) != r.KeyID {
				t.Fatalf("server key %x, id %s", pub, envelope.KeyID(pub))
			}
			envelope.SignResponse(key, string(r.SessionID), digest, resp)
			if !bytes.Equal(resp.Signature, r.Signature) {
				t.Fatalf("signature %x, want %x", resp.Signature, r.Signature)
			}
			if err := envelope.VerifyResponse(pub, string(r.SessionID), digest, resp); err != nil {
				t.Fatal(err)
			}
			if err := envelope.VerifyResponse(pub, "other-session", digest, resp); envelope.CodeOf(err) != envelope.CodeSignatureInvalid {
				t.Fatalf("verified in another session: %v", err)
			}
		})
	}
}
