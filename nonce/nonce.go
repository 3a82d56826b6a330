package nonce

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors a Store returns, matched with errors.Is. A Store adds context by wrapping them, so compare
// with errors.Is, never with ==.
var (
	// ErrReplay reports that the nonce is already recorded for this scope and still live: the
	// request is a replay and must be refused (REPLAY_DETECTED).
	ErrReplay = errors.New("nonce: replayed")

	// ErrUnavailable reports that the store cannot tell whether the nonce is new (outage, timeout,
	// cancelled context, store full). The caller must fail closed: refuse the request (UNAVAILABLE),
	// never accept it unchecked.
	ErrUnavailable = errors.New("nonce: store unavailable")

	// ErrScopeFull reports that the scope already holds its share of the store's live records
	// (MemoryOptions.MaxPerScope): one device is sending more than its share, and the store
	// refuses it before it fills up for everybody. It wraps ErrUnavailable, so a caller that
	// only tests ErrUnavailable fails closed (UNAVAILABLE); test ErrScopeFull to tell a flooding
	// device from a store that cannot answer anyone.
	ErrScopeFull = fmt.Errorf("%w: scope over its share", ErrUnavailable)
)

// Store records replay keys so each is accepted at most once per scope within its TTL. The
// server records the digest of each request's signed content (envelope.ReplayKey), so that the
// same signed content is accepted once however its bytes are split between nonce and payload;
// the store itself treats keys as opaque bytes, and the parameter keeps its historical name.
//
// Implementations are safe for concurrent use. noncetest.Run is the conformance suite every
// implementation should pass.
type Store interface {
	// Record atomically records nonce under scope for at least ttl.
	//
	// It returns nil when the nonce was new, an error wrapping ErrReplay when it is already
	// recorded and live, and an error wrapping ErrUnavailable when it cannot check (never nil in
	// that case). It honours ctx: a context that ends before the answer is known yields an error
	// wrapping both ErrUnavailable and ctx.Err().
	//
	// scope and nonce are opaque bytes, compared exactly: no two distinct (scope, nonce) pairs
	// share a record. Record does not retain nonce after it returns. A ttl that is not positive
	// is refused with ErrUnavailable, since it could not protect anything.
	Record(ctx context.Context, scope string, nonce []byte, ttl time.Duration) error
}

// ctxErr returns an error wrapping ErrUnavailable and ctx.Err() when ctx has already ended, nil
// otherwise.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// errBadTTL refuses a ttl that would record nothing.
func errBadTTL(ttl time.Duration) error {
	return fmt.Errorf("%w: ttl %v is not positive", ErrUnavailable, ttl)
}
