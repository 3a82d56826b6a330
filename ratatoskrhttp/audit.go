package ratatoskrhttp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/internal/clip"
)

// AuditLog returns the Observer behind Options.Logger, writing to l: one
// structured record per handshake and per request, with the stable field
// names Options.Logger lists, plus connection closes, refused frames and
// limits. Use it to send the audit log somewhere else than the handler's
// other messages (Options.Observer = Observers(AuditLog(audit), …)).
func AuditLog(l *slog.Logger) Observer { return auditLog{log: l} }

// auditLog is AuditLog's Observer.
type auditLog struct {
	NopObserver
	log *slog.Logger
}

// Audit record messages; the field names are listed on Options.Logger.
const (
	auditHandshake = "ratatoskr.handshake"
	auditRequest   = "ratatoskr.request"
	auditClosed    = "ratatoskr.connection_closed"
	auditRefused   = "ratatoskr.refused"
	auditLimited   = "ratatoskr.limited"
)

// outcome is the audit record's code field: "OK" for a success.
func outcome(code envelope.Code) string {
	if code == "" {
		return "OK"
	}
	return string(code)
}

// level is Warn for security refusals and limits, so that an attack stands
// out, and Info otherwise.
func level(code envelope.Code) slog.Level {
	if code.Kind() == envelope.KindSecurity || code == envelope.CodeRateLimited {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// failure appends the error fields: err, the message the device got, and
// cause, for the operator only.
func failure(attrs []slog.Attr, err error) []slog.Attr {
	if err == nil {
		return attrs
	}
	attrs = append(attrs, slog.String("err", clip.String(envelope.MessageOf(err), envelope.MaxMessageLen)))
	if cause := errors.Unwrap(err); cause != nil {
		attrs = append(attrs, slog.String("cause", clip.String(cause.Error(), 2*logTextLen)))
	}
	return attrs
}

func (a auditLog) Handshake(e HandshakeEvent) {
	lv := level(e.Code)
	if !a.log.Enabled(context.Background(), lv) {
		return
	}
	attrs := []slog.Attr{
		slog.Bool("renewal", e.Renewal),
		slog.String("request_id", clip.String(e.RequestID, logTextLen)),
		slog.String("session_id", e.SessionID),
		slog.String("user_id", clip.String(e.UserID, logTextLen)),
		slog.String("device_id", clip.String(e.DeviceID, logTextLen)),
		slog.String("remote", e.RemoteAddr),
		slog.String("code", outcome(e.Code)),
		slog.Duration("latency", e.Latency),
	}
	if e.Origin != "" {
		attrs = append(attrs, slog.String("origin", e.Origin))
	}
	if e.Code == "" {
		attrs = append(attrs, slog.String("scheme", e.Scheme.String()))
	}
	a.log.LogAttrs(context.Background(), lv, auditHandshake, failure(attrs, e.Err)...)
}

func (a auditLog) Request(ctx context.Context, e *RequestEvent) {
	lv := level(e.Code)
	if !a.log.Enabled(ctx, lv) {
		return
	}
	sum := sha256.Sum256(e.Payload)
	attrs := []slog.Attr{
		slog.String("type", e.Type.String()),
		slog.String("request_id", clip.String(e.RequestID, logTextLen)),
		slog.String("session_id", e.SessionID),
		slog.String("user_id", clip.String(e.UserID, logTextLen)),
		slog.String("device_id", clip.String(e.DeviceID, logTextLen)),
		slog.String("remote", e.RemoteAddr),
		slog.String("code", outcome(e.Code)),
		slog.Duration("latency", e.Latency),
		slog.Int("payload_size", len(e.Payload)),
		slog.String("payload_sha256", hex.EncodeToString(sum[:])),
		slog.Int("response_size", e.ResponseSize),
	}
	if e.Service != "" {
		attrs = append(attrs, slog.String("service", clip.String(e.Service, logTextLen)))
	}
	if e.Origin != "" {
		attrs = append(attrs, slog.String("origin", e.Origin))
	}
	a.log.LogAttrs(ctx, lv, auditRequest, failure(attrs, e.Err)...)
}

func (a auditLog) ConnectionClosed(e ConnectionEvent) {
	a.log.LogAttrs(context.Background(), slog.LevelInfo, auditClosed,
		slog.String("reason", string(e.Reason)), slog.Int("close_code", int(e.CloseCode)),
		slog.String("session_id", e.SessionID), slog.String("user_id", clip.String(e.UserID, logTextLen)),
		slog.String("device_id", clip.String(e.DeviceID, logTextLen)), slog.String("remote", e.RemoteAddr),
		slog.Duration("duration", e.Duration))
}

func (a auditLog) Refused(e RefusalEvent) {
	a.log.LogAttrs(context.Background(), slog.LevelWarn, auditRefused,
		slog.String("code", string(e.Code)), slog.String("session_id", e.SessionID),
		slog.String("remote", e.RemoteAddr), slog.Int("size", e.Size))
}

func (a auditLog) Limited(e LimitEvent) {
	a.log.LogAttrs(context.Background(), slog.LevelWarn, auditLimited,
		slog.String("limit", string(e.Limit)), slog.String("remote", e.RemoteAddr),
		slog.String("user_id", clip.String(e.UserID, logTextLen)), slog.String("device_id", clip.String(e.DeviceID, logTextLen)),
		slog.String("service", clip.String(e.Service, logTextLen)))
}
