package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// DefaultNamespace prefixes every metric name unless Options.Namespace
// says otherwise.
const DefaultNamespace = "ratatoskr"

// DefaultLatencyBuckets returns the histogram buckets, in seconds, used
// unless Options.LatencyBuckets says otherwise: from 0.5 ms (a heartbeat,
// a replay check in memory) to 10 s (a slow service near its timeout).
func DefaultLatencyBuckets() []float64 {
	return []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// Label values that stand for several values.
const (
	labelOK          = "OK"          // code of an accepted handshake or a successful request
	labelOther       = "other"       // any value this package does not know
	labelApplication = "application" // every code a service defines itself
)

// Options configures an Observer. A nil *Options means every default.
type Options struct {
	// Namespace prefixes every metric name ("ratatoskr_requests_total");
	// it must match [a-zA-Z_][a-zA-Z0-9_]*. Defaults to DefaultNamespace.
	Namespace string
	// Services lists the service names requests are counted under. A
	// business request for any other service, registered or not, is
	// counted under service="other": the name comes from the device, and
	// a label taken from it as it is would let any device create series
	// without bound. Defaults to none: every business request is "other".
	Services []string
	// LatencyBuckets are the upper bounds, in seconds and strictly
	// increasing, of the request and replay-check duration histograms.
	// Defaults to DefaultLatencyBuckets().
	LatencyBuckets []float64
}

// Observer counts a handler's events as Prometheus metrics (see the
// package doc for the families). Set it as ratatoskrhttp.Options.Observer,
// alone or combined with others through ratatoskrhttp.Observers.
//
// An Observer is also a prometheus.Collector of all its metrics, which New
// registers. Its methods are safe for concurrent use.
type Observer struct {
	connections prometheus.Gauge
	opened      prometheus.Counter
	closed      enumCounter
	limited     enumCounter
	refused     enumCounter
	replays     enumCounter
	replayTime  prometheus.Histogram
	received    prometheus.Counter
	sent        prometheus.Counter

	handshakes *prometheus.CounterVec
	hsCodes    [2][]counterCell // by renewal, then code index

	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	rows      []requestRow // see row

	services   map[string]int        // Options.Services, to their row
	nsvc       int                   // len(services)
	codes      map[envelope.Code]int // protocol codes to their index (1…)
	codeLabels []string              // by index: "OK", the protocol codes

	collectors []prometheus.Collector
}

var (
	_ ratatoskrhttp.Observer = (*Observer)(nil)
	_ prometheus.Collector   = (*Observer)(nil)
)

// New returns an Observer for opts and registers its metrics with reg, all
// or none. It fails when they are already registered there (another
// Observer with the same namespace), or when opts holds an invalid
// namespace, service name or buckets. A nil reg registers nothing:
// register the Observer yourself, it is a prometheus.Collector. opts is
// not kept.
func New(reg prometheus.Registerer, opts *Options) (*Observer, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if !validNamespace(o.Namespace) {
		return nil, fmt.Errorf("metrics: namespace %q is not of the form [a-zA-Z_][a-zA-Z0-9_]*", o.Namespace)
	}
	buckets := DefaultLatencyBuckets()
	if o.LatencyBuckets != nil {
		if err := checkBuckets(o.LatencyBuckets); err != nil {
			return nil, err
		}
		buckets = append([]float64(nil), o.LatencyBuckets...)
	}

	ob := &Observer{services: make(map[string]int)}
	var services []string
	for _, s := range o.Services {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("metrics: service name %q is not valid UTF-8", s)
		}
		if _, dup := ob.services[s]; dup || s == "" || s == labelOther {
			continue // "" and "other" are counted as "other" anyway
		}
		ob.services[s] = len(services)
		services = append(services, s)
	}
	ob.nsvc = len(services)

	codes := envelope.Codes()
	ob.codes = make(map[envelope.Code]int, len(codes))
	ob.codeLabels = append(make([]string, 0, len(codes)+1), labelOK)
	for i, c := range codes {
		ob.codes[c] = i + 1
		ob.codeLabels = append(ob.codeLabels, string(c))
	}

	ns := o.Namespace
	ob.connections = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "connections",
		Help: "Connections open now: upgraded and not yet ended, handshaking ones included."})
	ob.opened = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "connections_opened_total",
		Help: "Connections upgraded to WebSocket."})
	ob.closed = newEnumCounter(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "connections_closed_total",
		Help: "Connections ended, by why."}, []string{"reason"}), closeReasons)
	ob.handshakes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "handshakes_total",
		Help: `Handshakes and renewals answered, by kind ("handshake", "renewal") and code ("OK" when accepted, "other" for a code outside the protocol's).`},
		[]string{"kind", "code"})
	for i := range ob.hsCodes {
		ob.hsCodes[i] = make([]counterCell, len(codes)+2)
	}
	ob.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "requests_total",
		Help: `Requests answered, by type, service (business requests only; "other" for a service not configured) and code ("OK" for a success, "application" for a service's own codes).`},
		[]string{"type", "service", "code"})
	ob.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "request_duration_seconds",
		Help: "Time from the read of a request to its answer, by type and service.", Buckets: buckets},
		[]string{"type", "service"})
	ob.rows = make([]requestRow, len(services)+1+len(otherTypes))
	for i := range ob.rows {
		r := &ob.rows[i]
		switch {
		case i < len(services):
			r.typ, r.service = typeBusiness, services[i]
		case i == len(services):
			r.typ, r.service = typeBusiness, labelOther
		default:
			r.typ = otherTypes[i-len(services)-1]
		}
		r.codes = make([]counterCell, len(codes)+2)
	}
	ob.refused = newEnumCounter(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "refused_frames_total",
		Help: "Frames refused before they could be read as requests (text, too large, undecodable), by code."},
		[]string{"code"}), ob.codeLabels[1:])
	ob.limited = newEnumCounter(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "limited_total",
		Help: "Refusals by a limit, by limit."}, []string{"limit"}), limitKinds)
	ob.replays = newEnumCounter(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "replay_checks_total",
		Help: "Replay-store checks, by outcome."}, []string{"outcome"}), replayOutcomes)
	ob.replayTime = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "replay_check_duration_seconds",
		Help: "Time each replay-store check took.", Buckets: buckets})
	ob.received = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "received_bytes_total",
		Help: "Encoded size of the requests answered (handshakes excepted) and of the frames refused before decoding."})
	ob.sent = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "sent_payload_bytes_total",
		Help: "Payload bytes of the answers to requests (payload field only; handshake answers excepted)."})

	ob.collectors = []prometheus.Collector{
		ob.connections, ob.opened, ob.closed.vec, ob.handshakes, ob.requests, ob.durations,
		ob.refused.vec, ob.limited.vec, ob.replays.vec, ob.replayTime, ob.received, ob.sent,
	}
	if reg != nil {
		if err := reg.Register(ob); err != nil {
			return nil, fmt.Errorf("metrics: registering the collectors: %w", err)
		}
	}
	return ob, nil
}

// validNamespace reports whether ns makes metric names every Prometheus
// accepts without quoting.
func validNamespace(ns string) bool {
	for i, r := range ns {
		switch {
		case r == '_', 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return ns != ""
}

// checkBuckets reports buckets that prometheus would refuse (with a
// panic): none, or not strictly increasing.
func checkBuckets(b []float64) error {
	if len(b) == 0 {
		return errors.New("metrics: Options.LatencyBuckets is empty (leave it nil for the defaults)")
	}
	for i, v := range b {
		if math.IsNaN(v) || (i > 0 && v <= b[i-1]) {
			return fmt.Errorf("metrics: Options.LatencyBuckets must be strictly increasing, got %v", b)
		}
	}
	return nil
}

// Describe sends the descriptors of all the Observer's metrics.
func (o *Observer) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range o.collectors {
		c.Describe(ch)
	}
}

// Collect sends all the Observer's metrics.
func (o *Observer) Collect(ch chan<- prometheus.Metric) {
	for _, c := range o.collectors {
		c.Collect(ch)
	}
}

// ConnectionOpened counts an upgraded connection.
func (o *Observer) ConnectionOpened(ratatoskrhttp.ConnectionEvent) {
	o.opened.Inc()
	o.connections.Inc()
}

// ConnectionClosed counts an ended connection by its reason.
func (o *Observer) ConnectionClosed(e ratatoskrhttp.ConnectionEvent) {
	o.connections.Dec()
	o.closed.inc(string(e.Reason))
}

// Handshake counts an answered handshake or renewal.
func (o *Observer) Handshake(e ratatoskrhttp.HandshakeEvent) {
	kind := 0
	if e.Renewal {
		kind = 1
	}
	i := o.codeIndex(e.Code)
	if p := o.hsCodes[kind][i].p.Load(); p != nil {
		(*p).Inc()
		return
	}
	o.handshakeSlow(kind, i).Inc()
}

func (o *Observer) handshakeSlow(kind, i int) prometheus.Counter {
	k := "handshake"
	if kind == 1 {
		k = "renewal"
	}
	c := o.handshakes.WithLabelValues(k, o.codeLabel(i, labelOther))
	o.hsCodes[kind][i].p.Store(&c)
	return c
}

// StartRequest returns ctx: the Observer needs nothing carried.
func (o *Observer) StartRequest(ctx context.Context, _ *ratatoskrhttp.RequestInfo) context.Context {
	return ctx
}

// Request counts an answered request, its latency and its bytes.
func (o *Observer) Request(_ context.Context, e *ratatoskrhttp.RequestEvent) {
	row := &o.rows[o.row(e.Type, e.Service)]
	i := o.codeIndex(e.Code)
	if p := row.codes[i].p.Load(); p != nil {
		(*p).Inc()
	} else {
		o.requestSlow(row, i).Inc()
	}
	if p := row.duration.p.Load(); p != nil {
		(*p).Observe(e.Latency.Seconds())
	} else {
		o.durationSlow(row).Observe(e.Latency.Seconds())
	}
	if e.Size > 0 {
		o.received.Add(float64(e.Size))
	}
	if e.ResponseSize > 0 {
		o.sent.Add(float64(e.ResponseSize))
	}
}

func (o *Observer) requestSlow(row *requestRow, i int) prometheus.Counter {
	c := o.requests.WithLabelValues(row.typ, row.service, o.codeLabel(i, labelApplication))
	row.codes[i].p.Store(&c)
	return c
}

func (o *Observer) durationSlow(row *requestRow) prometheus.Observer {
	h := o.durations.WithLabelValues(row.typ, row.service)
	row.duration.p.Store(&h)
	return h
}

// Refused counts a frame refused before it was a request, and its bytes.
func (o *Observer) Refused(e ratatoskrhttp.RefusalEvent) {
	o.refused.inc(string(e.Code))
	if e.Size > 0 {
		o.received.Add(float64(e.Size))
	}
}

// Limited counts a refusal by a limit.
func (o *Observer) Limited(e ratatoskrhttp.LimitEvent) { o.limited.inc(string(e.Limit)) }

// ReplayChecked counts a replay-store check and its latency.
func (o *Observer) ReplayChecked(e ratatoskrhttp.ReplayEvent) {
	o.replays.inc(string(e.Outcome))
	o.replayTime.Observe(e.Latency.Seconds())
}

// codeIndex is 0 for "" (success), 1… for the protocol's codes and one
// past them for any other code.
func (o *Observer) codeIndex(c envelope.Code) int {
	if c == "" {
		return 0
	}
	if i, ok := o.codes[c]; ok {
		return i
	}
	return len(o.codes) + 1
}

// codeLabel is the label value of code index i, fallback for the codes
// outside the protocol's.
func (o *Observer) codeLabel(i int, fallback string) string {
	if i < len(o.codeLabels) {
		return o.codeLabels[i]
	}
	return fallback
}

// row is the index in o.rows of a request of type t for service: one row
// per configured service, then business "other", then one per other type.
func (o *Observer) row(t pb.MessageType, service string) int {
	switch t {
	case pb.MessageType_BUSINESS_REQUEST:
		if i, ok := o.services[service]; ok {
			return i
		}
		return o.nsvc
	case pb.MessageType_HEARTBEAT:
		return o.nsvc + 1
	case pb.MessageType_DISCONNECT:
		return o.nsvc + 2
	case pb.MessageType_CONNECTION_REQUEST:
		return o.nsvc + 3
	default:
		return o.nsvc + 4
	}
}

// The type label's values; otherTypes are in the order row uses.
const typeBusiness = "business"

var otherTypes = [...]string{"heartbeat", "disconnect", "connection", "other"}

// requestRow holds the series of one type and service label pair,
// resolved on first use: one counter per code index, and the histogram.
type requestRow struct {
	typ, service string
	codes        []counterCell
	duration     observerCell
}
