package envelope

import (
	"context"
	"crypto/ed25519"
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
	// Nonces records nonces against replay. Defaults to a new in-memory
	// store (nonce.NewMemory(nil)), which protects one process only; use a
	// shared store (nonce.NewRedis) when several replicas serve the same
	// devices.
	Nonces nonce.Store
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Validator decodes and validates requests in DESIGN.md's order. It is safe
// for concurrent use.
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

// NonceTTL is how long a nonce is kept: the window plus the future skew, so
// a request stays unreplayable for as long as its timestamp is acceptable.
func (v *Validator) NonceTTL() time.Duration { return v.o.Window + v.o.FutureSkew }

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
// device's public key.
type Expect struct {
	UserID    string
	DeviceID  string
	PublicKey ed25519.PublicKey
}

// Validate runs the checks after decoding, in DESIGN.md's order: schema,
// nonce and signature sizes, timestamp, identity, signature, and finally
// recording the nonce (only once the signature holds, so nobody can burn
// another device's nonces). The state check (handshake first) is the
// caller's, between Decode and Validate. Every error is an *Error.
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
	if err := Verify(req, want.PublicKey); err != nil {
		return err
	}
	return v.RecordNonce(ctx, req)
}

var (
	errIdentity        = NewError(CodeIdentityMismatch, "device_id or user_id does not match the authenticated device")
	errType            = NewError(CodeSchemaInvalid, "message_type is not a request type")
	errMissingID       = NewError(CodeSchemaInvalid, "request_id, device_id and user_id are required")
	errReplay          = NewError(CodeReplayDetected, "nonce already used")
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

// RecordNonce records the request's nonce for its device (validation step
// 8). It fails closed: when the store cannot tell, the request is refused
// with CodeUnavailable.
func (v *Validator) RecordNonce(ctx context.Context, req *pb.RatatoskrRequest) error {
	err := v.o.Nonces.Record(ctx, Scope(req.GetUserId(), req.GetDeviceId()), req.GetNonce(), v.NonceTTL())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nonce.ErrReplay):
		return errReplay
	default:
		return WrapError(CodeUnavailable, errNonceStoreUnavl.msg, fmt.Errorf("envelope: recording nonce: %w", err))
	}
}

// Scope returns the replay scope of a device: user and device id, length
// prefixed so that no two pairs share a scope.
func Scope(userID, deviceID string) string {
	return strconv.Itoa(len(userID)) + ":" + userID + deviceID
}
