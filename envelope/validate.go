package envelope

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/internal/opt"
	"github.com/ratatoskr-proto/ratatoskr/nonce"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Default limits of a Validator.
const (
	DefaultMaxMessageSize      = 1 << 20
	DefaultWindow              = 300 * time.Second
	DefaultFutureSkew          = 30 * time.Second
	DefaultMinNonceSize        = 8
	DefaultMaxNonceSize        = 64
	DefaultMaxIDLength         = 128
	DefaultMaxMetadataEntries  = 32
	DefaultMaxMetadataKeyLen   = 64
	DefaultMaxMetadataValueLen = 1024
)

// ValidatorOptions configures a Validator. The zero value of every field
// means its default.
type ValidatorOptions struct {
	// MaxMessageSize is the largest encoded request accepted, in bytes.
	// Defaults to 1 MiB.
	MaxMessageSize int
	// Window is how old a request's timestamp may be. Defaults to 300 s.
	Window time.Duration
	// FutureSkew is how far ahead of the server clock a timestamp may be.
	// Defaults to 30 s. Timestamps are whole seconds, so values under a
	// second refuse clients whose clock is slightly ahead.
	FutureSkew time.Duration
	// MinNonceSize and MaxNonceSize bound the nonce length in bytes.
	// Default to 8 and 64.
	MinNonceSize, MaxNonceSize int
	// MaxIDLength bounds request_id, device_id and user_id in bytes.
	// Defaults to 128.
	MaxIDLength int
	// MaxMetadataEntries bounds the number of metadata entries. Defaults
	// to 32.
	MaxMetadataEntries int
	// MaxMetadataKeyLen and MaxMetadataValueLen bound each metadata key and
	// value in bytes. Default to 64 and 1024.
	MaxMetadataKeyLen, MaxMetadataValueLen int
	// Nonces records accepted requests against replay, keyed on their
	// device and the digest of what their signature covers (see
	// ReplayKey). Defaults to a new in-memory store (nonce.NewMemory(nil)),
	// which protects one process only; use a shared store (redisstore.New,
	// package nonce/redisstore) when several replicas serve the same
	// devices.
	Nonces nonce.Store
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Validator decodes and validates requests in the protocol's order
// ("Validation order (server)" in docs/PROTOCOL.md): a request is answered
// with the code of the first check it fails. It is safe for concurrent use.
type Validator struct {
	o ValidatorOptions
}

// NewValidator returns a Validator with opts; nil opts means all defaults.
// opts is copied.
func NewValidator(opts *ValidatorOptions) *Validator {
	var o ValidatorOptions
	if opts != nil {
		o = *opts
	}
	opt.Default(&o.MaxMessageSize, DefaultMaxMessageSize)
	opt.Default(&o.Window, DefaultWindow)
	opt.Default(&o.FutureSkew, DefaultFutureSkew)
	opt.Default(&o.MinNonceSize, DefaultMinNonceSize)
	opt.Default(&o.MaxNonceSize, DefaultMaxNonceSize)
	opt.Default(&o.MaxIDLength, DefaultMaxIDLength)
	opt.Default(&o.MaxMetadataEntries, DefaultMaxMetadataEntries)
	opt.Default(&o.MaxMetadataKeyLen, DefaultMaxMetadataKeyLen)
	opt.Default(&o.MaxMetadataValueLen, DefaultMaxMetadataValueLen)
	if o.Nonces == nil {
		o.Nonces = nonce.NewMemory(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Validator{o: o}
}

// Options returns the validator's effective options, defaults filled in.
func (v *Validator) Options() ValidatorOptions { return v.o }

// ReplayTTL is how long a replay record is kept: the window plus the future
// skew plus one second, 331 s with the defaults. A frame first accepted at
// t may carry a timestamp up to t+skew, truncated to the second, and stays
// acceptable while now-window, truncated to the second, is not past that
// timestamp: until strictly before t+skew+1s+window. A record kept this
// long outlives every moment its frame could be accepted again.
func (v *Validator) ReplayTTL() time.Duration { return v.o.Window + v.o.FutureSkew + time.Second }

// Decode decodes one request, checking its size first. It returns an *Error
// with CodePayloadTooLarge or CodeMalformed.
func (v *Validator) Decode(b []byte) (*pb.RatatoskrRequest, error) {
	if len(b) > v.o.MaxMessageSize {
		return nil, Errorf(CodePayloadTooLarge, "message of %d bytes exceeds the limit of %d", len(b), v.o.MaxMessageSize)
	}
	req := new(pb.RatatoskrRequest)
	if err := proto.Unmarshal(b, req); err != nil {
		return nil, WrapError(CodeMalformed, "request is not a valid RatatoskrRequest", err)
	}
	return req, nil
}

// Expect is what a request must match: the authenticated identity and the
// device's checked public key (NewDeviceKey).
type Expect struct {
	UserID   string
	DeviceID string
	Key      DeviceKey
	// Scheme is the signature scheme the request must be signed with; the
	// zero value means SchemeV1.
	Scheme Scheme
}

// Validate runs the checks after decoding, in the protocol's order: schema,
// nonce and signature sizes, timestamp, identity, signature, and finally
// the replay record (only once the signature holds, so nobody can burn
// another device's records). The record is keyed on the signed content,
// not on the nonce bytes: the same signed content is accepted once however
// its bytes are split among fields (see ReplayKey). The state check
// (handshake first) is the caller's, between Decode and Validate. Every
// error is an *Error.
func (v *Validator) Validate(ctx context.Context, req *pb.RatatoskrRequest, want Expect) error {
	if err := v.CheckSchema(req); err != nil {
		return err
	}
	if err := v.CheckTimestamp(req); err != nil {
		return err
	}
	if req.GetDeviceId() != want.DeviceID || req.GetUserId() != want.UserID {
		return errIdentity
	}
	d := want.Scheme.Digest(req)
	if err := want.Key.verifyDigest(&d, req.GetSignature()); err != nil {
		return err
	}
	return v.record(ctx, req, d[:])
}

var (
	errIdentity        = NewError(CodeIdentityMismatch, "device_id or user_id does not match the authenticated device")
	errType            = NewError(CodeSchemaInvalid, "message_type is not a request type")
	errMissingID       = NewError(CodeSchemaInvalid, "request_id, device_id and user_id are required")
	errReplay          = NewError(CodeReplayDetected, "this signed request was already accepted")
	errNonceStoreUnavl = NewError(CodeUnavailable, "replay protection unavailable, try again")
)

// CheckSchema checks the message type, identifiers, metadata bounds, nonce
// size and signature size (validation steps 3 and 4).
func (v *Validator) CheckSchema(req *pb.RatatoskrRequest) error {
	switch req.GetMessageType() {
	case pb.MessageType_CONNECTION_REQUEST, pb.MessageType_BUSINESS_REQUEST,
		pb.MessageType_HEARTBEAT, pb.MessageType_DISCONNECT:
	default:
		return errType
	}
	if req.GetRequestId() == "" || req.GetDeviceId() == "" || req.GetUserId() == "" {
		return errMissingID
	}
	max := v.o.MaxIDLength
	if len(req.GetRequestId()) > max || len(req.GetDeviceId()) > max || len(req.GetUserId()) > max {
		return Errorf(CodeSchemaInvalid, "request_id, device_id and user_id are limited to %d bytes", max)
	}
	if md := req.GetMetadata(); len(md) > 0 {
		if len(md) > v.o.MaxMetadataEntries {
			return Errorf(CodeSchemaInvalid, "metadata has %d entries, the limit is %d", len(md), v.o.MaxMetadataEntries)
		}
		for k, val := range md {
			if len(k) == 0 || len(k) > v.o.MaxMetadataKeyLen || len(val) > v.o.MaxMetadataValueLen {
				return Errorf(CodeSchemaInvalid, "metadata keys are limited to 1..%d bytes and values to %d bytes",
					v.o.MaxMetadataKeyLen, v.o.MaxMetadataValueLen)
			}
		}
	}
	if n := len(req.GetNonce()); n < v.o.MinNonceSize || n > v.o.MaxNonceSize {
		return Errorf(CodeNonceInvalid, "nonce must be %d..%d bytes, got %d", v.o.MinNonceSize, v.o.MaxNonceSize, n)
	}
	if len(req.GetSignature()) != SignatureSize {
		return errSignatureSize
	}
	return nil
}

// CheckTimestamp checks the timestamp against the window and the future
// skew (validation step 5).
func (v *Validator) CheckTimestamp(req *pb.RatatoskrRequest) error {
	now := v.o.Now()
	ts := req.GetTimestamp()
	oldest := now.Add(-v.o.Window).Unix()
	newest := now.Add(v.o.FutureSkew).Unix()
	if ts < oldest {
		return Errorf(CodeTimestampInvalid, "timestamp is more than %s old", v.o.Window)
	}
	if ts > newest {
		return Errorf(CodeTimestampInvalid, "timestamp is more than %s ahead of server time", v.o.FutureSkew)
	}
	return nil
}

// ReplayKey returns what the replay store records for a request of the
// device: its v1 signing digest, SHA-256 over the fields the signature
// covers. Two frames that differ only in how those bytes are split between
// request_id, device_id, user_id, nonce and payload, or only in what the
// signature does not cover (message_type, metadata), have the same key, so
// the second is a replay however it was re-cut.
func ReplayKey(req *pb.RatatoskrRequest) []byte {
	d := Digest(req)
	return d[:]
}

// record writes the replay record of req, whose digest is key (validation
// step 8). It fails closed: when the store cannot tell, the request is
// refused with CodeUnavailable.
func (v *Validator) record(ctx context.Context, req *pb.RatatoskrRequest, key []byte) error {
	err := v.o.Nonces.Record(ctx, Scope(req.GetUserId(), req.GetDeviceId()), key, v.ReplayTTL())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nonce.ErrReplay):
		return errReplay
	default:
		return WrapError(CodeUnavailable, errNonceStoreUnavl.msg, fmt.Errorf("envelope: recording replay key: %w", err))
	}
}

// Scope returns the replay scope of a device: user and device id, length
// prefixed so that no two pairs share a scope.
func Scope(userID, deviceID string) string {
	return strconv.Itoa(len(userID)) + ":" + userID + deviceID
}
