package metrics_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/metrics"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testSecret = []byte("test-secret-of-at-least-32-bytes!!")

// burst is the per-device request burst of the harness; with a rate of one
// request per 1000 s, the burst+1-th request of a device is refused.
const burst = 10

// harness is a Handler on httptest whose Observer is a metrics.Observer
// on a registry of its own, with the services echo and decline (known to
// the metrics) and secret (not known to them).
type harness struct {
	h   *ratatoskrhttp.Handler
	reg *prometheus.Registry
	obs *metrics.Observer
	url string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	obs, err := metrics.New(reg, &metrics.Options{Services: []string{"echo", "decline"}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewJWT(auth.WithHMACSecret(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{
		Authenticator: a,
		Observer:      obs,
		RequestRate:   0.001,
		RequestBurst:  burst,
	})
	h.HandleFunc("echo", func(_ context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: r.Payload}, nil
	})
	h.HandleFunc("decline", func(context.Context, *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return nil, envelope.NewError("PAYMENT_DECLINED", "card declined")
	})
	h.HandleFunc("secret", func(context.Context, *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: []byte("s3cret")}, nil
	})
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	return &harness{h: h, reg: reg, obs: obs, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
}

// device speaks the protocol by hand over a raw WebSocket, so that it can
// send forged, replayed and undecodable frames. sent adds up the bytes of
// the frames it sent after its handshake.
type device struct {
	t      *testing.T
	ws     *websocket.Conn
	signer *envelope.Signer
	pub    ed25519.PublicKey
	sent   int
}

func newDevice(t *testing.T, user, id string) *device {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &device{t: t, pub: pub, signer: &envelope.Signer{UserID: user, DeviceID: id, Key: key}}
}

// token mints a device token signed with secret.
func (d *device) token(secret []byte) string {
	d.t.Helper()
	tok, err := auth.MintHS256(secret, auth.MintOptions{UserID: d.signer.UserID, DeviceID: d.signer.DeviceID, DevicePublicKey: d.pub, TTL: time.Hour})
	if err != nil {
		d.t.Fatal(err)
	}
	return tok
}

func (d *device) dial(hs *harness) *device {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, hs.url, &websocket.DialOptions{Subprotocols: []string{ratatoskrhttp.Subprotocol}})
	if err != nil {
		d.t.Fatal(err)
	}
	d.ws = ws
	d.t.Cleanup(func() { ws.CloseNow() })
	return d
}

// handshake sends a CONNECTION_REQUEST with a token signed with secret and
// returns the answer; its bytes are not counted in sent.
func (d *device) handshake(secret []byte) *pb.RatatoskrResponse {
	d.t.Helper()
	req, err := d.signer.ConnectionRequest(d.token(secret))
	if err != nil {
		d.t.Fatal(err)
	}
	d.write(mustMarshal(d.t, req))
	return d.recv()
}

func (d *device) connect(hs *harness) *device {
	d.t.Helper()
	d.dial(hs)
	if resp := d.handshake(testSecret); !resp.Success {
		d.t.Fatalf("handshake refused: %s %s", resp.ErrorCode, resp.ErrorMessage)
	}
	return d
}

func (d *device) business(service string, payload []byte) *pb.RatatoskrRequest {
	d.t.Helper()
	req, err := d.signer.Business(service, payload, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	return req
}

func (d *device) heartbeat() *pb.RatatoskrRequest {
	d.t.Helper()
	req, err := d.signer.Heartbeat()
	if err != nil {
		d.t.Fatal(err)
	}
	return req
}

// call sends req, counted in sent, and asserts its answer's code ("" for
// a success).
func (d *device) call(req *pb.RatatoskrRequest, code envelope.Code) *pb.RatatoskrResponse {
	d.t.Helper()
	b := mustMarshal(d.t, req)
	d.sent += len(b)
	d.write(b)
	resp := d.recv()
	if resp.RequestId != req.RequestId || resp.Success != (code == "") || resp.ErrorCode != string(code) {
		d.t.Fatalf("%v %s: got id %q success=%v code %q (%s), want code %q",
			req.MessageType, req.RequestId, resp.RequestId, resp.Success, resp.ErrorCode, resp.ErrorMessage, code)
	}
	return resp
}

func (d *device) write(b []byte) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		d.t.Fatalf("write: %v", err)
	}
}

func (d *device) recv() *pb.RatatoskrResponse {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := d.ws.Read(ctx)
	if err != nil {
		d.t.Fatalf("read: %v", err)
	}
	var resp pb.RatatoskrResponse
	if typ != websocket.MessageBinary {
		d.t.Fatalf("server sent a %v frame", typ)
	}
	if err := proto.Unmarshal(b, &resp); err != nil {
		d.t.Fatal(err)
	}
	return &resp
}

// expectClose reads until the server closes the connection with status.
func (d *device) expectClose(status websocket.StatusCode) {
	d.t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := d.ws.Read(ctx)
		cancel()
		if err == nil {
			continue
		}
		if got := websocket.CloseStatus(err); got != status {
			d.t.Fatalf("closed with %v (%v), want %v", got, err, status)
		}
		return
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestExchanges runs real exchanges, good and bad, through a handler and
// checks every family's exact values.
func TestExchanges(t *testing.T) {
	hs := newHarness(t)

	// alice: successes, then every kind of refusal a session survives,
	// a renewal, and a DISCONNECT.
	alice := newDevice(t, "alice", "phone").connect(hs)
	first := alice.business("echo", []byte("hello"))
	alice.call(first, "")
	alice.call(alice.business("echo", []byte("world!")), "")
	alice.call(alice.heartbeat(), "")
	alice.call(alice.business("nope", []byte("x")), envelope.CodeUnknownService)
	alice.call(alice.business("decline", []byte("12.50 EUR")), "PAYMENT_DECLINED")
	alice.call(alice.business("secret", nil), "") // registered, but not in Options.Services
	forged := alice.business("echo", []byte("forged"))
	forged.Signature[0] ^= 0xff
	alice.call(forged, envelope.CodeSignatureInvalid)
	alice.call(first, envelope.CodeReplayDetected)
	garbage := []byte("\xff\xfe not a protobuf frame")
	alice.write(garbage)
	if resp := alice.recv(); resp.Success || resp.ErrorCode != string(envelope.CodeMalformed) {
		t.Fatalf("garbage: got %v", resp)
	}
	if resp := alice.handshake(testSecret); !resp.Success { // a renewal
		t.Fatalf("renewal refused: %s %s", resp.ErrorCode, resp.ErrorMessage)
	}
	disconnect, err := alice.signer.Disconnect()
	if err != nil {
		t.Fatal(err)
	}
	alice.call(disconnect, "")
	alice.expectClose(websocket.StatusNormalClosure)

	// bob: heartbeats up to his burst, one past it, then he closes.
	bob := newDevice(t, "bob", "tablet").connect(hs)
	for range burst {
		bob.call(bob.heartbeat(), "")
	}
	bob.call(bob.heartbeat(), envelope.CodeRateLimited)
	if err := bob.ws.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("bob's close: %v", err)
	}

	// mallory: a token signed with another secret.
	mallory := newDevice(t, "mallory", "laptop").dial(hs)
	if resp := mallory.handshake([]byte("another-secret-of-at-least-32-bytes")); resp.Success || resp.ErrorCode != string(envelope.CodeAuthFailed) {
		t.Fatalf("mallory's handshake: got %v", resp)
	}
	mallory.expectClose(websocket.StatusPolicyViolation)

	closed := func() float64 {
		n, _ := gatherSum(hs.reg, "ratatoskr_connections_closed_total")
		return n
	}
	waitFor(t, "three connections closed", func() bool { return closed() == 3 })

	if got := value(t, hs.reg, "ratatoskr_connections"); got != 0 {
		t.Errorf("ratatoskr_connections = %v, want 0", got)
	}
	expect := `
# HELP ratatoskr_connections_opened_total Connections upgraded to WebSocket.
# TYPE ratatoskr_connections_opened_total counter
ratatoskr_connections_opened_total 3
# HELP ratatoskr_connections_closed_total Connections ended, by why.
# TYPE ratatoskr_connections_closed_total counter
ratatoskr_connections_closed_total{reason="disconnect"} 1
ratatoskr_connections_closed_total{reason="handshake_refused"} 1
ratatoskr_connections_closed_total{reason="peer"} 1
# HELP ratatoskr_handshakes_total Handshakes and renewals answered, by kind ("handshake", "renewal") and code ("OK" when accepted, "other" for a code outside the protocol's).
# TYPE ratatoskr_handshakes_total counter
ratatoskr_handshakes_total{code="AUTH_FAILED",kind="handshake"} 1
ratatoskr_handshakes_total{code="OK",kind="handshake"} 2
ratatoskr_handshakes_total{code="OK",kind="renewal"} 1
# HELP ratatoskr_requests_total Requests answered, by type, service (business requests only; "other" for a service not configured) and code ("OK" for a success, "application" for a service's own codes).
# TYPE ratatoskr_requests_total counter
ratatoskr_requests_total{code="OK",service="",type="disconnect"} 1
ratatoskr_requests_total{code="OK",service="",type="heartbeat"} 11
ratatoskr_requests_total{code="OK",service="echo",type="business"} 2
ratatoskr_requests_total{code="OK",service="other",type="business"} 1
ratatoskr_requests_total{code="RATE_LIMITED",service="",type="heartbeat"} 1
ratatoskr_requests_total{code="REPLAY_DETECTED",service="echo",type="business"} 1
ratatoskr_requests_total{code="SIGNATURE_INVALID",service="echo",type="business"} 1
ratatoskr_requests_total{code="UNKNOWN_SERVICE",service="other",type="business"} 1
ratatoskr_requests_total{code="application",service="decline",type="business"} 1
# HELP ratatoskr_refused_frames_total Frames refused before they could be read as requests (text, too large, undecodable), by code.
# TYPE ratatoskr_refused_frames_total counter
ratatoskr_refused_frames_total{code="MALFORMED"} 1
# HELP ratatoskr_limited_total Refusals by a limit, by limit.
# TYPE ratatoskr_limited_total counter
ratatoskr_limited_total{limit="device_rate"} 1
`
	if err := testutil.GatherAndCompare(hs.reg, strings.NewReader(expect),
		"ratatoskr_connections_opened_total", "ratatoskr_connections_closed_total", "ratatoskr_handshakes_total",
		"ratatoskr_requests_total", "ratatoskr_refused_frames_total", "ratatoskr_limited_total"); err != nil {
		t.Error(err)
	}

	// Replay checks: alice's handshake and renewal, her seven requests
	// that passed their signature check (the forged one did not reach the
	// store; the replay is the eighth check), bob's handshake and his
	// heartbeats within the burst. Mallory's token failed first.
	recorded := 2 + 7 + 1 + burst
	if got := value(t, hs.reg, "ratatoskr_replay_checks_total", "outcome", "recorded"); got != float64(recorded) {
		t.Errorf("replay checks recorded = %v, want %d", got, recorded)
	}
	if got := value(t, hs.reg, "ratatoskr_replay_checks_total", "outcome", "replay"); got != 1 {
		t.Errorf("replay checks replay = %v, want 1", got)
	}
	if n := histogramCount(t, hs.reg, "ratatoskr_replay_check_duration_seconds"); n != uint64(recorded+1) {
		t.Errorf("replay check durations: %d samples, want %d", n, recorded+1)
	}
	for _, c := range []struct {
		typ, service string
		n            uint64
	}{
		{"business", "echo", 4}, {"business", "decline", 1}, {"business", "other", 2},
		{"heartbeat", "", burst + 2}, {"disconnect", "", 1},
	} {
		if n := histogramCount(t, hs.reg, "ratatoskr_request_duration_seconds", "type", c.typ, "service", c.service); n != c.n {
			t.Errorf("request durations of %s/%q: %d samples, want %d", c.typ, c.service, n, c.n)
		}
	}
	if n := testutil.CollectAndCount(hs.obs, "ratatoskr_request_duration_seconds"); n != 5 {
		t.Errorf("ratatoskr_request_duration_seconds has %d series, want 5", n)
	}

	// Bytes: every request frame the devices sent after their handshakes,
	// and the garbage; out, the payloads of echo's and secret's answers.
	if got, want := value(t, hs.reg, "ratatoskr_received_bytes_total"), float64(alice.sent+bob.sent+len(garbage)); got != want {
		t.Errorf("ratatoskr_received_bytes_total = %v, want %v", got, want)
	}
	if got, want := value(t, hs.reg, "ratatoskr_sent_payload_bytes_total"), float64(len("hello")+len("world!")+len("s3cret")); got != want {
		t.Errorf("ratatoskr_sent_payload_bytes_total = %v, want %v", got, want)
	}
}

// The observer, called directly: label values that are not in the known
// sets fall into "other" or "application", and nothing panics on odd
// values.
func TestLabelsBounded(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	obs, err := metrics.New(reg, &metrics.Options{Namespace: "app", Services: []string{"echo", "echo", "", "other"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	business := func(service string, code envelope.Code) *ratatoskrhttp.RequestEvent {
		return &ratatoskrhttp.RequestEvent{RequestInfo: ratatoskrhttp.RequestInfo{Type: pb.MessageType_BUSINESS_REQUEST, Service: service, Size: -1}, Code: code, ResponseSize: -5}
	}
	obs.Request(ctx, business("echo", ""))
	obs.Request(ctx, business("echo", "PAYMENT_DECLINED"))
	obs.Request(ctx, business("echo", "CARD_EXPIRED"))
	obs.Request(ctx, business("no-such-service-"+strings.Repeat("x", 100), envelope.CodeUnknownService))
	obs.Request(ctx, business("\xff", ""))
	obs.Request(ctx, business("", envelope.CodeSchemaInvalid))
	obs.Request(ctx, &ratatoskrhttp.RequestEvent{RequestInfo: ratatoskrhttp.RequestInfo{Type: pb.MessageType_ERROR, Service: "echo"}, Code: envelope.CodeSchemaInvalid})
	obs.Request(ctx, &ratatoskrhttp.RequestEvent{RequestInfo: ratatoskrhttp.RequestInfo{Type: pb.MessageType_CONNECTION_REQUEST}, Code: envelope.CodeRateLimited})
	obs.Handshake(ratatoskrhttp.HandshakeEvent{Code: "MADE_UP"})
	obs.Handshake(ratatoskrhttp.HandshakeEvent{Renewal: true, Code: envelope.CodeIdentityMismatch})
	obs.Refused(ratatoskrhttp.RefusalEvent{Code: "MADE_UP", Size: -1})
	obs.Refused(ratatoskrhttp.RefusalEvent{Code: envelope.CodePayloadTooLarge, Size: 100})
	obs.ConnectionOpened(ratatoskrhttp.ConnectionEvent{})
	obs.ConnectionClosed(ratatoskrhttp.ConnectionEvent{Reason: "made_up"})
	obs.ConnectionClosed(ratatoskrhttp.ConnectionEvent{Reason: ratatoskrhttp.ClosedExpired})
	obs.Limited(ratatoskrhttp.LimitEvent{Limit: "made_up"})
	obs.Limited(ratatoskrhttp.LimitEvent{Limit: ratatoskrhttp.LimitServiceRate, Service: "echo"})
	obs.ReplayChecked(ratatoskrhttp.ReplayEvent{Outcome: ratatoskrhttp.ReplayUnavailable, Latency: time.Millisecond})
	obs.ReplayChecked(ratatoskrhttp.ReplayEvent{Outcome: "made_up"})

	expect := `
# HELP app_requests_total Requests answered, by type, service (business requests only; "other" for a service not configured) and code ("OK" for a success, "application" for a service's own codes).
# TYPE app_requests_total counter
app_requests_total{code="OK",service="echo",type="business"} 1
app_requests_total{code="OK",service="other",type="business"} 1
app_requests_total{code="RATE_LIMITED",service="",type="connection"} 1
app_requests_total{code="SCHEMA_INVALID",service="",type="other"} 1
app_requests_total{code="SCHEMA_INVALID",service="other",type="business"} 1
app_requests_total{code="UNKNOWN_SERVICE",service="other",type="business"} 1
app_requests_total{code="application",service="echo",type="business"} 2
# HELP app_handshakes_total Handshakes and renewals answered, by kind ("handshake", "renewal") and code ("OK" when accepted, "other" for a code outside the protocol's).
# TYPE app_handshakes_total counter
app_handshakes_total{code="IDENTITY_MISMATCH",kind="renewal"} 1
app_handshakes_total{code="other",kind="handshake"} 1
# HELP app_refused_frames_total Frames refused before they could be read as requests (text, too large, undecodable), by code.
# TYPE app_refused_frames_total counter
app_refused_frames_total{code="PAYLOAD_TOO_LARGE"} 1
app_refused_frames_total{code="other"} 1
# HELP app_connections Connections open now: upgraded and not yet ended, handshaking ones included.
# TYPE app_connections gauge
app_connections -1
# HELP app_connections_closed_total Connections ended, by why.
# TYPE app_connections_closed_total counter
app_connections_closed_total{reason="expired"} 1
app_connections_closed_total{reason="other"} 1
# HELP app_limited_total Refusals by a limit, by limit.
# TYPE app_limited_total counter
app_limited_total{limit="other"} 1
app_limited_total{limit="service_rate"} 1
# HELP app_replay_checks_total Replay-store checks, by outcome.
# TYPE app_replay_checks_total counter
app_replay_checks_total{outcome="other"} 1
app_replay_checks_total{outcome="unavailable"} 1
# HELP app_received_bytes_total Encoded size of the requests answered (handshakes excepted) and of the frames refused before decoding.
# TYPE app_received_bytes_total counter
app_received_bytes_total 100
# HELP app_sent_payload_bytes_total Payload bytes of the answers to requests (payload field only; handshake answers excepted).
# TYPE app_sent_payload_bytes_total counter
app_sent_payload_bytes_total 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expect),
		"app_requests_total", "app_handshakes_total", "app_refused_frames_total", "app_connections",
		"app_connections_closed_total", "app_limited_total", "app_replay_checks_total",
		"app_received_bytes_total", "app_sent_payload_bytes_total"); err != nil {
		t.Error(err)
	}
	if n := histogramCount(t, reg, "app_replay_check_duration_seconds"); n != 2 {
		t.Errorf("replay check durations: %d samples, want 2", n)
	}
}

// Before any event only the unlabeled families are exported, with the
// default buckets.
func TestNewDefaults(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg, nil); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	want := "ratatoskr_connections ratatoskr_connections_opened_total ratatoskr_received_bytes_total ratatoskr_replay_check_duration_seconds ratatoskr_sent_payload_bytes_total"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("families before any event: %s, want %s", got, want)
	}
	for _, mf := range mfs {
		if mf.GetName() == "ratatoskr_replay_check_duration_seconds" {
			b := mf.GetMetric()[0].GetHistogram().GetBucket()
			if len(b) != 14 || b[0].GetUpperBound() != 0.0005 || b[13].GetUpperBound() != 10 {
				t.Errorf("default buckets: %v", b)
			}
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg, nil); err != nil {
		t.Fatal(err)
	}
	_, err := metrics.New(reg, nil)
	if are := (prometheus.AlreadyRegisteredError{}); !errors.As(err, &are) {
		t.Errorf("second New on one registry: %v, want an AlreadyRegisteredError", err)
	}
	// Another namespace registers beside it.
	if _, err := metrics.New(reg, &metrics.Options{Namespace: "other"}); err != nil {
		t.Errorf("New with another namespace: %v", err)
	}
	for name, o := range map[string]*metrics.Options{
		"empty buckets":      {LatencyBuckets: []float64{}},
		"buckets not rising": {LatencyBuckets: []float64{1, 0.5}},
		"equal buckets":      {LatencyBuckets: []float64{1, 1}},
		"bad service name":   {Services: []string{"\xff"}},
		"bad namespace":      {Namespace: "not a-name"},
	} {
		if _, err := metrics.New(prometheus.NewRegistry(), o); err == nil {
			t.Errorf("%s: New did not fail", name)
		}
	}
	// Options are copied: changing them afterwards changes nothing.
	o := &metrics.Options{LatencyBuckets: []float64{0.1, 1}}
	reg = prometheus.NewRegistry()
	obs, err := metrics.New(reg, o)
	if err != nil {
		t.Fatal(err)
	}
	o.LatencyBuckets[1] = 0.01
	obs.ReplayChecked(ratatoskrhttp.ReplayEvent{Outcome: ratatoskrhttp.ReplayRecorded, Latency: 500 * time.Millisecond})
	if n := histogramCount(t, reg, "ratatoskr_replay_check_duration_seconds"); n != 1 {
		t.Errorf("%d samples, want 1", n)
	}
	// A nil registerer registers nothing; the Observer is a Collector.
	obs, err = metrics.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	obs.ConnectionOpened(ratatoskrhttp.ConnectionEvent{})
	if n := testutil.CollectAndCount(obs, "ratatoskr_connections_opened_total"); n != 1 {
		t.Errorf("collected %d series, want 1", n)
	}
}

// gatherSum adds up the values of every series of the counter or gauge
// name.
func gatherSum(g prometheus.Gatherer, name string) (float64, bool) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, false
	}
	var sum float64
	found := false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			found = true
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum, found
}

// series returns the series of name whose labels are labels (pairs).
func series(t *testing.T, g prometheus.Gatherer, name string, labels ...string) *dto.Metric {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			if len(have) != len(labels)/2 {
				continue
			}
			for i := 0; i < len(labels); i += 2 {
				if v, ok := have[labels[i]]; !ok || v != labels[i+1] {
					continue metric
				}
			}
			return m
		}
	}
	return nil
}

// value is the value of a counter or gauge series, 0 when absent.
func value(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	m := series(t, g, name, labels...)
	return m.GetCounter().GetValue() + m.GetGauge().GetValue()
}

// histogramCount is the sample count of a histogram series, 0 when absent.
func histogramCount(t *testing.T, g prometheus.Gatherer, name string, labels ...string) uint64 {
	t.Helper()
	return series(t, g, name, labels...).GetHistogram().GetSampleCount()
}
