// Package metrics exports what a ratatoskrhttp.Handler does as Prometheus
// metrics: it implements ratatoskrhttp.Observer with
// github.com/prometheus/client_golang, so that the core never imports
// Prometheus and a server that does not want metrics does not link it.
//
//	reg := prometheus.NewRegistry()
//	obs, err := metrics.New(reg, &metrics.Options{Services: []string{"echo", "payments"}})
//	if err != nil { … }
//	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: a, Observer: obs})
//	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// # Metric families
//
// The names below use the default namespace, "ratatoskr" (see
// Options.Namespace); they and their labels are stable.
//
//   - ratatoskr_connections (gauge): the connections open now, upgraded and
//     not yet ended (opened minus closed), handshaking ones included.
//   - ratatoskr_connections_opened_total (counter): connections upgraded.
//   - ratatoskr_connections_closed_total{reason} (counter): connections
//     ended, by ratatoskrhttp.CloseReason ("peer", "disconnect", "expired",
//     "shutdown", "replaced", "killed", "handshake_refused",
//     "handshake_timeout", "abuse", "unresponsive", "internal"; "other" for
//     a reason this package does not know).
//   - ratatoskr_handshakes_total{kind, code} (counter): handshakes
//     (kind="handshake") and renewals (kind="renewal") answered, with code
//     "OK" when accepted, else the refusal's protocol code (envelope.Codes),
//     or "other" for any other code.
//   - ratatoskr_requests_total{type, service, code} (counter): requests
//     answered, refused ones included. type is "business", "heartbeat",
//     "disconnect", "connection" (a CONNECTION_REQUEST the core reports as a
//     request) or "other" (a frame of another message type); service is the
//     business request's service when it is one of Options.Services,
//     "other" for any other name the device sent (so a device cannot create
//     series at will), and "" for every type but business. code is "OK" for
//     a success, a protocol code (envelope.Codes) as it is, and
//     "application" for every code a service defines itself (kind
//     envelope.KindApplication, such as "PAYMENT_DECLINED"): services may
//     build codes from their input, so they are not labels; log them
//     (Options.Logger) or trace them to tell them apart.
//   - ratatoskr_request_duration_seconds{type, service} (histogram): from
//     the read of each request to its answer, with the labels of
//     ratatoskr_requests_total; buckets from Options.LatencyBuckets.
//   - ratatoskr_refused_frames_total{code} (counter): frames refused before
//     they could be read as requests (a text frame, a frame over the size
//     limit, bytes that do not decode), by protocol code ("other" for any
//     other). These are not in ratatoskr_requests_total.
//   - ratatoskr_limited_total{limit} (counter): refusals by a limit, by
//     ratatoskrhttp.LimitKind ("device_rate", "user_rate", "service_rate",
//     "in_flight", "sessions_per_device", "connections",
//     "pending_per_addr", "handshake_rate_per_addr",
//     "concurrent_handshakes", "protocol_errors", "replay_store"; "other"
//     for a kind this package does not know).
//   - ratatoskr_replay_checks_total{outcome} (counter): replay-store
//     checks, by ratatoskrhttp.ReplayOutcome ("recorded", "replay",
//     "unavailable"; "other" otherwise).
//   - ratatoskr_replay_check_duration_seconds (histogram): how long each
//     replay-store check took.
//   - ratatoskr_received_bytes_total (counter): the encoded size of every
//     request counted in ratatoskr_requests_total (RequestInfo.Size: the
//     protobuf frame, heartbeats, disconnects and refused requests
//     included) plus the size of every refused frame whose size is known
//     (RefusalEvent.Size). Not counted: handshake and renewal frames,
//     frames the connection ignores once it is closing, and WebSocket
//     framing and control frames.
//   - ratatoskr_sent_payload_bytes_total (counter): the payload bytes of
//     the answers to the requests in ratatoskr_requests_total
//     (RequestEvent.ResponseSize): only the response's payload field, not
//     its envelope (ids, metadata, signature), nor handshake answers or
//     frames the server sends on its own.
//
// Label values are resolved once per combination and cached, so an event
// costs a few map look-ups and atomic operations and allocates nothing.
// Series appear on their first event; the unlabeled families are exported
// from the start.
package metrics
