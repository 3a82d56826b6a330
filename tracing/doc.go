// Package tracing traces a ratatoskrhttp.Handler with OpenTelemetry: New
// returns a ratatoskrhttp.Observer that makes a server span for every
// business request and every handshake or renewal, so that the core
// package never imports OpenTelemetry.
//
//	h := ratatoskrhttp.New(&ratatoskrhttp.Options{
//		Authenticator: a,
//		Observer:      tracing.New(nil), // otel.GetTracerProvider(), W3C Trace Context
//	})
//	h.HandleFunc("orders.create", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
//		ctx, span := tracer.Start(ctx, "insert order") // a child of the request's span
//		defer span.End()
//		...
//	})
//
// Combine it with other observers (metrics.New) with ratatoskrhttp.Observers.
//
// # Joining a device's trace
//
// A device joins its request to a trace of its own by putting the W3C
// Trace Context in the request's metadata, under the W3C header names in
// lower case: "traceparent" (required) and "tracestate" (optional), for
// instance with client.WithMetadata(map[string]string{"traceparent":
// "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}). The request's
// span is then a child of that remote parent; without a valid traceparent
// it is the root of a new trace. Options.Propagator changes what is read.
//
// Signature v2 covers the metadata, so the trace context is the device's
// own; signature v1 does not, so on a connection without TLS it could be
// rewritten in transit. Either way it is what a device says: with a
// parent-based sampler (the SDK's default) a device decides whether its
// requests are sampled, and it can name any trace id. Where that matters,
// sample remote parents with a sampler of your own
// (sdktrace.ParentBased(root, sdktrace.WithRemoteParentSampled(...))), or
// ignore devices' trace context with Options.Propagator set to
// propagation.NewCompositeTextMapPropagator() (which reads nothing).
//
// # Spans
//
// A business request gets a span of kind server named "ratatoskr
// <service>", the service name cut to 64 bytes, from StartRequest to
// Request; the service's context carries it (trace.SpanFromContext).
// When the answer's code shows that the request never reached a service
// (see below), its service name is unknown or unverified, and the span is
// renamed "ratatoskr _OTHER" at its end, as the OpenTelemetry RPC
// conventions ask for methods a server does not recognise.
//
// A handshake or a renewal gets a span of kind server named "ratatoskr
// handshake". The Observer hears of a handshake only once it is answered,
// so the span is made afterwards, starting Latency before the event; it is
// the root of a trace of its own (a CONNECTION_REQUEST carries no trace
// context).
//
// Heartbeats, disconnects, connections, refused frames, limits and
// replay-store checks make no spans: they carry no request context to
// attach them to, and metrics count them better. Nor do business requests
// the handler refuses before admitting them (past the device's rate or
// MaxInFlight, before the handshake, while the session ends): they reach
// Request without StartRequest, and a flood must not cost a span each.
//
// A span the connection's context already carries (an HTTP middleware's
// span of the WebSocket upgrade, say) is never a request's parent, since
// one trace would then gather a day of requests; the request's span links
// to it instead.
//
// # Attributes
//
// Attributes follow the OpenTelemetry semantic conventions v1.43.0 (the
// tracer's schema URL says so) where they have one; the rest are in the
// ratatoskr namespace (the Key constants of this package).
//
// On request spans:
//
//	rpc.system.name           "ratatoskr"
//	rpc.method                the service (cut to 64 bytes), or "_OTHER" (see above)
//	rpc.method_original       the service, when rpc.method is "_OTHER"
//	rpc.response.status_code  "OK", or the answer's error code
//	error.type                the answer's error code, when it failed
//	network.peer.address      the peer's address, network.peer.port its port
//	enduser.id                the user id (the session's once validated; before, as the frame claims)
//	ratatoskr.device.id       the device id (likewise)
//	ratatoskr.session.id      the session id, when a session is open
//	ratatoskr.request.id      the request id
//	ratatoskr.request.size    the encoded request's size in bytes
//	ratatoskr.response.size   the answer's payload size in bytes
//
// On handshake spans: rpc.system.name, rpc.response.status_code,
// error.type, network.peer.address and port, ratatoskr.request.id,
// ratatoskr.handshake.renewal (true for a renewal), enduser.id and
// ratatoskr.device.id (what the request claims: authenticated only when
// it was accepted), and, when accepted, ratatoskr.session.id and
// ratatoskr.signature.scheme ("v1" or "v2").
//
// enduser.id is personal data in some deployments; drop it in a span
// processor or the collector when it must not leave the service. Values
// that come from the peer are cut (ids to 128 bytes), so that no peer can
// make spans large. No error text is recorded: the span's status
// description is the message the device was sent (envelope.MessageOf),
// never the cause meant for the operator's log.
//
// # Status
//
// A span's status is Error when the answer carries one of the protocol's
// own codes (envelope.Codes: kinds serialization, validation, connection
// and security), refusals by the handler included (UNKNOWN_SERVICE, a
// forged signature, a replay, RATE_LIMITED), and INTERNAL or UNAVAILABLE
// from a service: in a signed-messaging server those are what an operator
// looks for. It stays Unset for a success and for a code a service defines
// itself (envelope.KindApplication, such as "PAYMENT_DECLINED"): that is a
// business answer, recorded in rpc.response.status_code and error.type. A
// service may set its span's status itself; the Observer never overrides
// it with Unset.
//
// A request's service name is taken as unknown or unverified, and the span
// renamed "ratatoskr _OTHER", for the codes that only the handler's own
// checks give, before any service runs: UNKNOWN_SERVICE,
// HANDSHAKE_REQUIRED, MALFORMED, PAYLOAD_TOO_LARGE, NONCE_INVALID,
// TIMESTAMP_INVALID, SIGNATURE_INVALID, IDENTITY_MISMATCH and
// REPLAY_DETECTED. SCHEMA_INVALID is not among them, as services answer it
// too: a frame the handler refuses with it keeps its (cut) service name.
package tracing
