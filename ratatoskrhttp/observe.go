package ratatoskrhttp

import (
	"context"
	"errors"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/nonce"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// requestInfo describes req, read at start in a frame of size bytes.
func (c *conn) requestInfo(req *pb.RatatoskrRequest, service string, start time.Time, size int) RequestInfo {
	info := RequestInfo{
		Type:       req.GetMessageType(),
		Service:    service,
		RequestID:  req.GetRequestId(),
		UserID:     req.GetUserId(),
		DeviceID:   req.GetDeviceId(),
		RemoteAddr: c.remote,
		Origin:     c.origin,
		Metadata:   req.GetMetadata(),
		Size:       size,
		Start:      start,
	}
	if s := c.session(); s != nil {
		info.SessionID = s.ID
	}
	return info
}

// report tells the observer that req (read at start, size bytes) was
// answered: err nil for a success, respSize the answer's payload size.
func (c *conn) report(ctx context.Context, req *pb.RatatoskrRequest, service string, start time.Time, size int, err error, respSize int) {
	obs := c.h.obs
	if obs == nil {
		return
	}
	e := RequestEvent{
		RequestInfo:  c.requestInfo(req, service, start, size),
		Code:         codeOf(err),
		Err:          err,
		Latency:      time.Since(start),
		Payload:      req.GetPayload(),
		ResponseSize: respSize,
	}
	obs.Request(ctx, &e)
}

// reportHandshake tells the observer that the handshake or renewal req
// (read at start) was answered: sess on success, err otherwise.
func (c *conn) reportHandshake(req *pb.RatatoskrRequest, renewal bool, sess *Session, start time.Time, err error) {
	obs := c.h.obs
	if obs == nil {
		return
	}
	e := HandshakeEvent{
		Renewal:    renewal,
		RemoteAddr: c.remote,
		Origin:     c.origin,
		RequestID:  req.GetRequestId(),
		UserID:     req.GetUserId(),
		DeviceID:   req.GetDeviceId(),
		Code:       codeOf(err),
		Err:        err,
		Latency:    time.Since(start),
	}
	if err == nil && sess != nil {
		e.SessionID, e.Scheme = sess.ID, sess.Scheme
	}
	obs.Handshake(e)
}

// refused tells the observer of a frame refused before it was a request.
func (c *conn) refused(code envelope.Code, size int) {
	if obs := c.h.obs; obs != nil {
		e := RefusalEvent{RemoteAddr: c.remote, Code: code, Size: size}
		if s := c.session(); s != nil {
			e.SessionID = s.ID
		}
		obs.Refused(e)
	}
}

// limited tells the observer that the limit l refused something of sess
// (nil before the handshake).
func (c *conn) limited(l LimitKind, sess *Session, service string) {
	if obs := c.h.obs; obs != nil {
		e := LimitEvent{Limit: l, RemoteAddr: c.remote, Service: service}
		if sess != nil {
			e.UserID, e.DeviceID = sess.Identity.UserID, sess.Identity.DeviceID
		}
		obs.Limited(e)
	}
}

// codeOf is "" for nil, else err's code.
func codeOf(err error) envelope.Code {
	if err == nil {
		return ""
	}
	return envelope.CodeOf(err)
}

// observedStore reports every replay-store check to the observer, and a
// device over its share of the memory store as a limit.
type observedStore struct {
	nonce.Store
	obs Observer
}

func (s observedStore) Record(ctx context.Context, scope string, key []byte, ttl time.Duration) error {
	start := time.Now()
	err := s.Store.Record(ctx, scope, key, ttl)
	e := ReplayEvent{Outcome: ReplayRecorded, Latency: time.Since(start)}
	switch {
	case err == nil:
	case errors.Is(err, nonce.ErrReplay):
		e.Outcome = ReplayDetected
	default:
		e.Outcome, e.Err = ReplayUnavailable, err
		if errors.Is(err, nonce.ErrScopeFull) {
			s.obs.Limited(LimitEvent{Limit: LimitReplayStoreShare})
		}
	}
	s.obs.ReplayChecked(e)
	return err
}
