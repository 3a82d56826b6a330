package envelope

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/ratatoskr-proto/ratatoskr/internal/clip"
)

// MaxMessageLen bounds an *Error's message: a longer one is cut to this
// many bytes and marked as cut, so that no error echoes unbounded input
// back to the peer or into a log. QuoteLen bounds what Quote keeps of a
// value.
const (
	MaxMessageLen = 512
	QuoteLen      = 128
)

// Quote returns s as a Go-quoted string for an error message, cut to
// QuoteLen bytes and marked as cut when longer. Use it for every value a
// message repeats from the peer's input: envelope.Errorf(code, "unknown
// action %s", envelope.Quote(action)).
func Quote(s string) string {
	return strconv.Quote(clip.String(s, QuoteLen))
}

// Code is a stable error code carried in RatatoskrResponse.error_code.
// The strings are part of the wire contract; handlers may define their own
// codes (for example "PAYMENT_DECLINED") next to these.
type Code string

// The protocol's error codes (docs/PROTOCOL.md says when each is sent).
// Their strings are the wire values.
const (
	CodeMalformed          Code = "MALFORMED"
	CodePayloadTooLarge    Code = "PAYLOAD_TOO_LARGE"
	CodeSchemaInvalid      Code = "SCHEMA_INVALID"
	CodeNonceInvalid       Code = "NONCE_INVALID"
	CodeTimestampInvalid   Code = "TIMESTAMP_INVALID"
	CodeSignatureInvalid   Code = "SIGNATURE_INVALID"
	CodeReplayDetected     Code = "REPLAY_DETECTED"
	CodeAuthFailed         Code = "AUTH_FAILED"
	CodeIdentityMismatch   Code = "IDENTITY_MISMATCH"
	CodeHandshakeRequired  Code = "HANDSHAKE_REQUIRED"
	CodeUnknownService     Code = "UNKNOWN_SERVICE"
	CodeRateLimited        Code = "RATE_LIMITED"
	CodeSessionExpired     Code = "SESSION_EXPIRED"
	CodeServerShutdown     Code = "SERVER_SHUTDOWN"
	CodeUnavailable        Code = "UNAVAILABLE"
	CodeInternal           Code = "INTERNAL"
	CodeConnectionRejected Code = "CONNECTION_REJECTED"
	// CodeSessionReplaced ends a session displaced by a newer session of
	// the same device past the server's sessions-per-device limit. A client
	// should not reconnect on it: the device is already connected.
	CodeSessionReplaced Code = "SESSION_REPLACED"
)

// Codes lists every protocol error code, in the order they are declared.
func Codes() []Code {
	return []Code{
		CodeMalformed, CodePayloadTooLarge, CodeSchemaInvalid, CodeNonceInvalid,
		CodeTimestampInvalid, CodeSignatureInvalid, CodeReplayDetected, CodeAuthFailed,
		CodeIdentityMismatch, CodeHandshakeRequired, CodeUnknownService, CodeRateLimited,
		CodeSessionExpired, CodeServerShutdown, CodeUnavailable, CodeInternal,
		CodeConnectionRejected, CodeSessionReplaced,
	}
}

// Kind groups codes into the four error kinds the protocol names, plus
// KindApplication for codes a service defines itself.
type Kind int

// The error kinds.
const (
	KindApplication   Kind = iota // a code defined by a service handler
	KindSerialization             // the bytes could not be decoded
	KindValidation                // the envelope is well formed but not acceptable
	KindConnection                // the session or server state refuses it
	KindSecurity                  // authentication, integrity or replay
)

// String returns the kind's lower-case name.
func (k Kind) String() string {
	switch k {
	case KindSerialization:
		return "serialization"
	case KindValidation:
		return "validation"
	case KindConnection:
		return "connection"
	case KindSecurity:
		return "security"
	default:
		return "application"
	}
}

// Kind returns the kind of c. Codes this package does not define are
// KindApplication.
func (c Code) Kind() Kind {
	switch c {
	case CodeMalformed, CodePayloadTooLarge:
		return KindSerialization
	case CodeSchemaInvalid, CodeNonceInvalid, CodeTimestampInvalid, CodeUnknownService:
		return KindValidation
	case CodeHandshakeRequired, CodeRateLimited, CodeSessionExpired, CodeServerShutdown,
		CodeUnavailable, CodeInternal, CodeConnectionRejected, CodeSessionReplaced:
		return KindConnection
	case CodeSignatureInvalid, CodeReplayDetected, CodeAuthFailed, CodeIdentityMismatch:
		return KindSecurity
	default:
		return KindApplication
	}
}

// Error is an error with a stable Code. Its message is sent to the peer in
// error_message, so it must not contain secrets or internal detail; the
// wrapped cause (Unwrap) is not sent. Messages are cut to MaxMessageLen
// bytes. An *Error is immutable and safe for
// concurrent use.
type Error struct {
	code Code
	msg  string
	err  error
}

// NewError returns an *Error with code and a message for the peer.
func NewError(code Code, msg string) *Error {
	return &Error{code: code, msg: clip.String(msg, MaxMessageLen)}
}

// Errorf returns an *Error with code and a formatted message for the peer.
// A %w verb wraps its operand as the cause.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{code: code, msg: clip.String(err.Error(), MaxMessageLen), err: errors.Unwrap(err)}
}

// WrapError returns an *Error with code whose message for the peer is msg
// and whose cause, kept for logs and errors.Is, is cause.
func WrapError(code Code, msg string, cause error) *Error {
	return &Error{code: code, msg: clip.String(msg, MaxMessageLen), err: cause}
}

// Error returns "CODE: message".
func (e *Error) Error() string {
	if e.msg == "" {
		return string(e.code)
	}
	return string(e.code) + ": " + e.msg
}

// Code returns the error's code.
func (e *Error) Code() Code { return e.code }

// Kind returns the kind of the error's code.
func (e *Error) Kind() Kind { return e.code.Kind() }

// Message returns the message sent to the peer.
func (e *Error) Message() string { return e.msg }

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.err }

// Is reports whether e has the code target is, when target is a Code: a
// Code matches every *Error carrying it, so that an application declares
// its business errors once as codes,
//
//	const ErrPaymentDeclined envelope.Code = "PAYMENT_DECLINED"
//
// and matches them with errors.Is(err, ErrPaymentDeclined) on the server
// and on the device alike.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && e.code == c
}

// Error makes a Code an error, so that errors.Is(err, code) matches any
// *Error carrying it (see Error.Is). As an error it reads as the code.
func (c Code) Error() string { return string(c) }

// CodeOf returns the code of the first *Error in err's chain (else of a
// bare Code in it, as a service may return a declared Code), "" for a nil
// error, and CodeInternal for any other error.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.code
	}
	var c Code
	if errors.As(err, &c) && c != "" {
		return c // a service returned a declared Code as its error
	}
	return CodeInternal
}

// MessageOf returns the message to send to the peer for err: the message of
// the first *Error in its chain, or a generic text for any other error so
// that internal detail is not leaked.
func MessageOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.msg
	}
	var c Code
	if errors.As(err, &c) && c != "" {
		return string(c) // a bare Code: the code is its own message
	}
	return "internal error"
}
