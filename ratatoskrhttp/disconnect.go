package ratatoskrhttp

import (
	"context"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

// Selector picks the sessions Disconnect ends: those of UserID, those of
// DeviceID, or, with both set, those of that user's device. The zero
// Selector matches nothing.
type Selector struct {
	UserID   string
	DeviceID string
}

func (s Selector) matches(id *Session) bool {
	if s.UserID == "" && s.DeviceID == "" {
		return false
	}
	return (s.UserID == "" || s.UserID == id.Identity.UserID) &&
		(s.DeviceID == "" || s.DeviceID == id.Identity.DeviceID)
}

// Disconnect is the operator's kill switch: it ends every open session on
// this replica that sel matches. Each stops taking requests (they get
// code), lets its requests in flight answer (bounded by DrainTimeout),
// sends a DISCONNECT with code as its error_code and closes: 1008 when
// code is of the security kind (AUTH_FAILED, the default when code is
// empty), 1000 otherwise. Disconnect waits until those connections have
// closed or ctx ends, and returns how many sessions it ended.
//
// Connections still in their handshake are not matched: to keep a revoked
// device out, make Options.Revoked say so first, then call Disconnect.
// Each replica ends its own sessions; call Disconnect on every replica.
func (h *Handler) Disconnect(ctx context.Context, sel Selector, code envelope.Code) (int, error) {
	if code == "" {
		code = envelope.CodeAuthFailed
	}
	status := CloseNormal
	if code.Kind() == envelope.KindSecurity {
		status = ClosePolicyViolation
	}
	h.mu.Lock()
	all := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		all = append(all, c)
	}
	h.mu.Unlock()
	var ended []*conn
	for _, c := range all {
		if s := c.session(); s != nil && sel.matches(s) && c.beginEndIfOpen(ending{code: code, disconnect: true, notice: code, status: status, reason: string(code), why: ClosedKilled}) {
			ended = append(ended, c)
		}
	}
	for _, c := range ended {
		select {
		case <-c.done:
		case <-ctx.Done():
			return len(ended), ctx.Err()
		}
	}
	return len(ended), nil
}
