package envelope

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// ProtocolVersion is the version a device announces in its
// ConnectionRequestPayload.
const ProtocolVersion = "1"

// MetadataService is the metadata key that names the service a business
// request is routed to.
const MetadataService = "service"

// MetadataDeviceKey is the metadata key of a CONNECTION_REQUEST that
// presents the device's Ed25519 public key (unpadded base64url of its 32
// bytes), for a token that binds the key by its thumbprint ("cnf"."jkt")
// instead of carrying it. Signer.ConnectionRequest always sets it.
const MetadataDeviceKey = "device_key"

// DefaultNonceSize is the size of the nonces NewNonce makes.
const DefaultNonceSize = 16

// NewNonce returns DefaultNonceSize random bytes read from r, or from
// crypto/rand when r is nil.
func NewNonce(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	n := make([]byte, DefaultNonceSize)
	if _, err := io.ReadFull(r, n); err != nil {
		return nil, fmt.Errorf("envelope: reading nonce: %w", err)
	}
	return n, nil
}

// NewRequestID returns a random version 4 UUID string read from r, or from
// crypto/rand when r is nil.
func NewRequestID(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("envelope: reading request id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:]), nil
}

// Signer builds signed requests for one device. Its fields must not change
// once it is in use; then its methods are safe for concurrent use.
type Signer struct {
	// DeviceID and UserID identify the device and its user; they must match
	// the device token.
	DeviceID string
	UserID   string
	// Key is the device's Ed25519 private key.
	Key ed25519.PrivateKey
	// Now is the clock for timestamps. Defaults to time.Now.
	Now func() time.Time
	// Rand is the source of nonces and request ids. Defaults to crypto/rand.
	Rand io.Reader
	// Scheme is the signature scheme. Defaults to SchemeV1. With SchemeV2,
	// a CONNECTION_REQUEST also says so in its metadata ("sig.scheme").
	Scheme Scheme
}

// New returns a signed request of type t with a fresh request id, nonce and
// timestamp. metadata is copied.
func (s *Signer) New(t pb.MessageType, payload []byte, metadata map[string]string) (*pb.RatatoskrRequest, error) {
	id, err := NewRequestID(s.Rand)
	if err != nil {
		return nil, err
	}
	n, err := NewNonce(s.Rand)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	req := &pb.RatatoskrRequest{
		MessageType: t,
		RequestId:   id,
		DeviceId:    s.DeviceID,
		UserId:      s.UserID,
		Timestamp:   now().Unix(),
		Nonce:       n,
		Payload:     payload,
	}
	if len(metadata) > 0 {
		req.Metadata = make(map[string]string, len(metadata)+1)
		for k, v := range metadata {
			req.Metadata[k] = v
		}
	}
	if t == pb.MessageType_CONNECTION_REQUEST && s.Scheme == SchemeV2 {
		if req.Metadata == nil {
			req.Metadata = make(map[string]string, 1)
		}
		req.Metadata[MetadataScheme] = SchemeV2.String()
	}
	if len(s.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("envelope: signer key must be %d bytes, got %d", ed25519.PrivateKeySize, len(s.Key))
	}
	SignWith(req, s.Key, s.Scheme)
	return req, nil
}

// ConnectionRequest returns a signed CONNECTION_REQUEST that carries token.
func (s *Signer) ConnectionRequest(token string) (*pb.RatatoskrRequest, error) {
	payload, err := proto.Marshal(&pb.ConnectionRequestPayload{
		DeviceIdentity:      s.DeviceID,
		AuthenticationToken: token,
		Version:             ProtocolVersion,
	})
	if err != nil {
		return nil, fmt.Errorf("envelope: encoding connection payload: %w", err)
	}
	if len(s.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("envelope: signer key must be %d bytes, got %d", ed25519.PrivateKeySize, len(s.Key))
	}
	pub := s.Key[ed25519.SeedSize:] // the public half of a private key
	return s.New(pb.MessageType_CONNECTION_REQUEST, payload, map[string]string{MetadataDeviceKey: base64.RawURLEncoding.EncodeToString(pub)})
}

// Business returns a signed BUSINESS_REQUEST for service. metadata may be
// nil; its "service" entry is set to service.
func (s *Signer) Business(service string, payload []byte, metadata map[string]string) (*pb.RatatoskrRequest, error) {
	md := make(map[string]string, len(metadata)+1)
	for k, v := range metadata {
		md[k] = v
	}
	md[MetadataService] = service
	return s.New(pb.MessageType_BUSINESS_REQUEST, payload, md)
}

// Heartbeat returns a signed HEARTBEAT request.
func (s *Signer) Heartbeat() (*pb.RatatoskrRequest, error) {
	return s.New(pb.MessageType_HEARTBEAT, nil, nil)
}

// Disconnect returns a signed DISCONNECT request.
func (s *Signer) Disconnect() (*pb.RatatoskrRequest, error) {
	return s.New(pb.MessageType_DISCONNECT, nil, nil)
}
