package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

// ErrClosed is returned, wrapped, by every call on a client whose connection
// is gone or closing. Its code (envelope.CodeOf) is UNAVAILABLE. When the
// connection dropped, the wrapping error also carries the cause: the
// server's DISCONNECT reason (an *envelope.Error with, for instance,
// SERVER_SHUTDOWN or SESSION_EXPIRED, whose code CodeOf then reports), the
// transport error, or the unanswered heartbeat. After Close it is ErrClosed
// itself, with no cause.
var ErrClosed error = envelope.NewError(envelope.CodeUnavailable, "client: connection closed")

// closedError is the error of a connection that ended without Close: it
// wraps the cause first, so that errors.As finds the server's reason before
// ErrClosed's UNAVAILABLE, and ErrClosed, so that errors.Is(err, ErrClosed)
// holds.
type closedError struct{ cause error }

func (e *closedError) Error() string   { return "client: connection closed: " + e.cause.Error() }
func (e *closedError) Unwrap() []error { return []error{e.cause, ErrClosed} }

// closedErr wraps ErrClosed and cause; a nil cause gives ErrClosed itself.
func closedErr(cause error) error {
	switch {
	case cause == nil:
		return ErrClosed
	case errors.Is(cause, ErrClosed):
		return cause
	}
	return &closedError{cause: cause}
}

// coded gives err a code when it carries none: the end of a context becomes
// UNAVAILABLE, with the context's error kept as the cause, so that
// errors.Is(err, context.DeadlineExceeded) still holds. Errors carrying a
// code, and others, are returned as they are.
func coded(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errors.AsType[*envelope.Error](err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return envelope.WrapError(envelope.CodeUnavailable, err.Error(), err)
	}
	return err
}

// unavailable is the error of a connection lost while dialing or during the
// handshake: UNAVAILABLE, or the end of ctx when that is why.
func unavailable(ctx context.Context, what string, err error) error {
	err = fmt.Errorf("client: %s: %w", what, err)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", err, cerr)
	}
	return envelope.WrapError(envelope.CodeUnavailable, err.Error(), err)
}

// dialError gives the failure of the WebSocket dial a code: the end of
// ctx and network failures are UNAVAILABLE, as are the HTTP answers of a
// server that is shutting down or overloaded (5xx, 408); 429 (too many
// connections from this address) is RATE_LIMITED; any other HTTP answer
// (a wrong URL, a refused origin) is CONNECTION_REJECTED.
func dialError(ctx context.Context, url string, resp *http.Response, err error) error {
	what := "dial " + url
	if resp == nil || ctx.Err() != nil {
		return unavailable(ctx, what, err)
	}
	code := envelope.CodeConnectionRejected
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		code = envelope.CodeRateLimited
	case s == http.StatusRequestTimeout || s >= 500:
		code = envelope.CodeUnavailable
	}
	err = fmt.Errorf("client: %s: %w", what, err)
	return envelope.WrapError(code, err.Error(), err)
}

// Retryable reports whether a request that failed with err may succeed if
// the application sends it again, as a fresh request (a new request_id and
// nonce: the server refuses a request sent twice as a replay), once the
// cause has passed: on this client while its connection is up, or on a new
// one (Dial again) once it is gone. Retryable does not wait or back off;
// the application does.
//
// Retryable errors are transient:
//
//   - UNAVAILABLE: a call whose context's deadline passed (it wraps
//     context.DeadlineExceeded), a connection that dropped (ErrClosed with
//     a transport cause, or an unanswered heartbeat), a call made while the
//     client reconnects (ErrDisconnected), a Dial that could not
//     reach the server or was answered 5xx, or the server's UNAVAILABLE (a
//     service that gave up, a revocation check that failed);
//   - RATE_LIMITED: the server's rate or in-flight limit, or a Dial
//     answered 429; wait before retrying;
//   - SERVER_SHUTDOWN: the server is draining or has ended the session;
//     retry on a new connection (another server);
//   - SESSION_EXPIRED: retry after Renew, or on a new connection;
//   - HANDSHAKE_REQUIRED: the session is closing at the device's request;
//     retry on a new connection.
//
// Everything else is not retryable: repeating the request fails the same
// way. In particular AUTH_FAILED (a bad, expired or revoked token: get a
// new one first), SIGNATURE_INVALID (including ErrResponseSignature),
// IDENTITY_MISMATCH, TIMESTAMP_INVALID (the device's clock is off),
// MALFORMED, PAYLOAD_TOO_LARGE, SCHEMA_INVALID, UNKNOWN_SERVICE,
// CONNECTION_REJECTED, SESSION_REPLACED (the device is connected
// elsewhere), INTERNAL (a bug, on either side, and errors the client cannot
// classify, such as invalid Options), REPLAY_DETECTED (a retried request is
// a new request, so a replay means a bug) and every application code (the
// application knows its own codes). Two more are not: a call whose own
// context was cancelled (code UNAVAILABLE, wrapping context.Canceled: the
// caller gave up), and ErrClosed after Close (the application closed the
// client). A server DISCONNECT is judged by its code: SERVER_SHUTDOWN and
// SESSION_EXPIRED are retryable, a revoked device's AUTH_FAILED is not.
// An error from Options.TokenSource is judged by its code too; give it one
// (an *envelope.Error) to make it retryable.
//
// Retryable says nothing about idempotency: a call that timed out or whose
// connection dropped may have been served. Whether repeating it is safe (an
// idempotency key in the metadata, a request that changes nothing) is the
// application's choice.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if ce, ok := errors.AsType[*closedError](err); ok {
		// The connection dropped: retryable unless the server's reason
		// says otherwise.
		if _, ok := errors.AsType[*envelope.Error](ce.cause); !ok {
			return true
		}
		return retryableCode(envelope.CodeOf(ce.cause))
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled) {
		return false
	}
	if _, ok := errors.AsType[*envelope.Error](err); !ok {
		// The client codes what it returns; this is the caller's own.
		return errors.Is(err, context.DeadlineExceeded)
	}
	return retryableCode(envelope.CodeOf(err))
}

func retryableCode(c envelope.Code) bool {
	switch c {
	case envelope.CodeUnavailable, envelope.CodeRateLimited, envelope.CodeServerShutdown,
		envelope.CodeSessionExpired, envelope.CodeHandshakeRequired:
		return true
	}
	return false
}
