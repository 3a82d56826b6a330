package tracing

import (
	"context"
	"net"
	"strconv"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/internal/clip"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// ScopeName is the instrumentation scope of the Observer's tracer.
const ScopeName = "github.com/ratatoskr-proto/ratatoskr/tracing"

// The span attributes of this package that the semantic conventions do
// not define (see the package doc for all of them).
const (
	DeviceIDKey        = attribute.Key("ratatoskr.device.id")
	SessionIDKey       = attribute.Key("ratatoskr.session.id")
	RequestIDKey       = attribute.Key("ratatoskr.request.id")
	RequestSizeKey     = attribute.Key("ratatoskr.request.size")
	ResponseSizeKey    = attribute.Key("ratatoskr.response.size")
	RenewalKey         = attribute.Key("ratatoskr.handshake.renewal")
	SignatureSchemeKey = attribute.Key("ratatoskr.signature.scheme")
)

var rpcSystem = semconv.RPCSystemNameKey.String("ratatoskr")

const (
	// maxServiceLen bounds the service name in span names and rpc.method;
	// maxIDLen the ids recorded.
	maxServiceLen = 64
	maxIDLen      = 128
	// other is rpc.method for a method the server does not recognise.
	other             = "_OTHER"
	handshakeSpanName = "ratatoskr handshake"
)

// Options configures New. The zero value (or nil) means the defaults.
type Options struct {
	// TracerProvider makes the Observer's tracer. Defaults to
	// otel.GetTracerProvider() at the time New is called (which follows a
	// later otel.SetTracerProvider).
	TracerProvider trace.TracerProvider
	// Propagator reads a device's trace context from the request metadata.
	// Defaults to propagation.TraceContext{}: the keys "traceparent" and
	// "tracestate". propagation.NewCompositeTextMapPropagator() reads
	// nothing, so that every request starts a trace of its own.
	Propagator propagation.TextMapPropagator
}

// Observer is a ratatoskrhttp.Observer that traces business requests and
// handshakes (see the package doc). It is safe for concurrent use; its
// methods take as long as the span processor's OnStart and OnEnd (use the
// SDK's batch span processor in production, never a synchronous exporter).
type Observer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

var _ ratatoskrhttp.Observer = (*Observer)(nil)

// New returns an Observer with opts; nil means the defaults. opts is not
// kept.
func New(opts *Options) *Observer {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.TracerProvider == nil {
		o.TracerProvider = otel.GetTracerProvider()
	}
	if o.Propagator == nil {
		o.Propagator = propagation.TraceContext{}
	}
	return &Observer{
		tracer: o.TracerProvider.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		prop:   o.Propagator,
	}
}

// spanKey is the context key under which StartRequest keeps the span it
// started, so that Request ends that span and no other (a span the
// connection's HTTP request carried, or another observer's), and only
// once. It is per Observer.
type spanKey struct{ o *Observer }

// StartRequest starts the span of a business request, the child of the
// trace context in its metadata when there is one and the root of a new
// trace otherwise, and returns ctx carrying it. A span the connection's
// context carries (its HTTP upgrade's, say) is not the parent: a long
// connection would gather every request under one trace. It is linked
// instead.
func (o *Observer) StartRequest(ctx context.Context, r *ratatoskrhttp.RequestInfo) context.Context {
	if r.Type != pb.MessageType_BUSINESS_REQUEST {
		return ctx
	}
	parent := ctx
	conn := trace.SpanContextFromContext(ctx)
	if len(r.Metadata) > 0 {
		parent = o.prop.Extract(ctx, propagation.MapCarrier(r.Metadata))
	}
	service := cut(r.Service, maxServiceLen)
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs,
		rpcSystem,
		semconv.RPCMethod(service),
		RequestIDKey.String(clip.String(r.RequestID, maxIDLen)),
		RequestSizeKey.Int(r.Size),
	)
	attrs = appendPeer(attrs, r.RemoteAddr)
	opts := make([]trace.SpanStartOption, 0, 4)
	opts = append(opts, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	if sc := trace.SpanContextFromContext(parent); !sc.IsValid() || sc.Equal(conn) {
		opts = append(opts, trace.WithNewRoot())
		if conn.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: conn}))
		}
	}
	ctx, span := o.tracer.Start(parent, "ratatoskr "+service, opts...)
	if !span.IsRecording() {
		return ctx // nothing to end or record: skip the marker
	}
	return context.WithValue(ctx, spanKey{o}, span)
}

// Request ends the span StartRequest started for a business request, with
// its outcome. Other requests (heartbeats, disconnects), which had no
// StartRequest, make no span.
func (o *Observer) Request(ctx context.Context, e *ratatoskrhttp.RequestEvent) {
	span, ok := ctx.Value(spanKey{o}).(trace.Span)
	if !ok {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 9)
	attrs = append(attrs,
		semconv.RPCResponseStatusCode(statusCode(e.Code)),
		ResponseSizeKey.Int(e.ResponseSize),
	)
	attrs = appendIdentity(attrs, e.UserID, e.DeviceID, e.SessionID)
	if e.Code != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(string(e.Code)))
	}
	if unrouted(e.Code) {
		attrs = append(attrs, semconv.RPCMethod(other),
			semconv.RPCMethodOriginal(cut(e.Service, maxServiceLen)))
		span.SetName("ratatoskr " + other)
	}
	span.SetAttributes(attrs...)
	setStatus(span, e.Code, e.Err)
	span.End()
}

// Handshake records a span for an answered handshake or renewal. It is
// made after the fact, from now minus e.Latency to now.
func (o *Observer) Handshake(e ratatoskrhttp.HandshakeEvent) {
	end := time.Now()
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs,
		rpcSystem,
		RequestIDKey.String(clip.String(e.RequestID, maxIDLen)),
		RenewalKey.Bool(e.Renewal),
	)
	attrs = appendPeer(attrs, e.RemoteAddr)
	_, span := o.tracer.Start(context.Background(), handshakeSpanName,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(end.Add(-e.Latency)),
		trace.WithAttributes(attrs...))
	if span.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, 5) // a new slice: the tracer may keep the first
		attrs = append(attrs, semconv.RPCResponseStatusCode(statusCode(e.Code)))
		attrs = appendIdentity(attrs, e.UserID, e.DeviceID, e.SessionID)
		if e.Code == "" {
			attrs = append(attrs, SignatureSchemeKey.String(e.Scheme.String()))
		} else {
			attrs = append(attrs, semconv.ErrorTypeKey.String(string(e.Code)))
		}
		span.SetAttributes(attrs...)
		setStatus(span, e.Code, e.Err)
	}
	span.End(trace.WithTimestamp(end))
}

// ConnectionOpened does nothing: connections make no spans.
func (*Observer) ConnectionOpened(ratatoskrhttp.ConnectionEvent) {}

// ConnectionClosed does nothing: connections make no spans.
func (*Observer) ConnectionClosed(ratatoskrhttp.ConnectionEvent) {}

// Refused does nothing: a frame refused before it was a request has no
// context to trace.
func (*Observer) Refused(ratatoskrhttp.RefusalEvent) {}

// Limited does nothing: a refused request's span records its code.
func (*Observer) Limited(ratatoskrhttp.LimitEvent) {}

// ReplayChecked does nothing: a refused request's span records its code.
func (*Observer) ReplayChecked(ratatoskrhttp.ReplayEvent) {}

// statusCode returns rpc.response.status_code for code.
func statusCode(code envelope.Code) string {
	if code == "" {
		return "OK"
	}
	return string(code)
}

// setStatus sets Error for the protocol's own codes (see the package doc)
// with the message the device was sent, and leaves the status alone
// otherwise.
func setStatus(span trace.Span, code envelope.Code, err error) {
	if code == "" || code.Kind() == envelope.KindApplication {
		return
	}
	msg := envelope.MessageOf(err)
	if msg == "" {
		msg = string(code)
	}
	span.SetStatus(codes.Error, msg)
}

// unrouted reports whether an answer with code comes from the handler's
// own checks, before any service ran, so that the request's service name
// is unknown to the server or not authenticated.
func unrouted(code envelope.Code) bool {
	switch code {
	case envelope.CodeUnknownService, envelope.CodeHandshakeRequired,
		envelope.CodeMalformed, envelope.CodePayloadTooLarge,
		envelope.CodeNonceInvalid, envelope.CodeTimestampInvalid,
		envelope.CodeSignatureInvalid, envelope.CodeIdentityMismatch, envelope.CodeReplayDetected:
		return true
	}
	return false
}

// appendPeer appends network.peer.address and, when addr has one,
// network.peer.port.
func appendPeer(attrs []attribute.KeyValue, addr string) []attribute.KeyValue {
	if addr == "" {
		return attrs
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return append(attrs, semconv.NetworkPeerAddress(clip.String(addr, maxIDLen)))
	}
	attrs = append(attrs, semconv.NetworkPeerAddress(host))
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, semconv.NetworkPeerPort(p))
	}
	return attrs
}

// appendIdentity appends enduser.id, ratatoskr.device.id and
// ratatoskr.session.id, each when known.
func appendIdentity(attrs []attribute.KeyValue, user, device, session string) []attribute.KeyValue {
	if user != "" {
		attrs = append(attrs, semconv.EnduserID(clip.String(user, maxIDLen)))
	}
	if device != "" {
		attrs = append(attrs, DeviceIDKey.String(clip.String(device, maxIDLen)))
	}
	if session != "" {
		attrs = append(attrs, SessionIDKey.String(clip.String(session, maxIDLen)))
	}
	return attrs
}

// cut returns s cut to at most n bytes, backed off to a UTF-8 boundary,
// without a marker: it names spans, so that a long name and its cut
// version are the same name.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
