package ratatoskrhttp_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// recorder is an Observer that keeps every event, for assertions.
type recorder struct {
	mu        sync.Mutex
	opened    int
	closed    []ratatoskrhttp.ConnectionEvent
	handshake []ratatoskrhttp.HandshakeEvent
	started   []ratatoskrhttp.RequestInfo
	requests  []ratatoskrhttp.RequestEvent
	refused   []ratatoskrhttp.RefusalEvent
	limited   []ratatoskrhttp.LimitEvent
	replay    map[ratatoskrhttp.ReplayOutcome]int
}

type ctxKey struct{}

func (r *recorder) ConnectionOpened(ratatoskrhttp.ConnectionEvent) {
	r.mu.Lock()
	r.opened++
	r.mu.Unlock()
}
func (r *recorder) ConnectionClosed(e ratatoskrhttp.ConnectionEvent) {
	r.mu.Lock()
	r.closed = append(r.closed, e)
	r.mu.Unlock()
}
func (r *recorder) Handshake(e ratatoskrhttp.HandshakeEvent) {
	r.mu.Lock()
	r.handshake = append(r.handshake, e)
	r.mu.Unlock()
}
func (r *recorder) StartRequest(ctx context.Context, info *ratatoskrhttp.RequestInfo) context.Context {
	r.mu.Lock()
	r.started = append(r.started, *info)
	r.mu.Unlock()
	return context.WithValue(ctx, ctxKey{}, info.RequestID)
}
func (r *recorder) Request(ctx context.Context, e *ratatoskrhttp.RequestEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Type == pb.MessageType_BUSINESS_REQUEST && e.Code != envelope.CodeRateLimited && ctx.Value(ctxKey{}) != e.RequestID {
		panic("Request did not get StartRequest's context")
	}
	r.requests = append(r.requests, *e)
}
func (r *recorder) Refused(e ratatoskrhttp.RefusalEvent) {
	r.mu.Lock()
	r.refused = append(r.refused, e)
	r.mu.Unlock()
}
func (r *recorder) Limited(e ratatoskrhttp.LimitEvent) {
	r.mu.Lock()
	r.limited = append(r.limited, e)
	r.mu.Unlock()
}
func (r *recorder) ReplayChecked(e ratatoskrhttp.ReplayEvent) {
	r.mu.Lock()
	if r.replay == nil {
		r.replay = map[ratatoskrhttp.ReplayOutcome]int{}
	}
	r.replay[e.Outcome]++
	r.mu.Unlock()
}

// The observer sees each event of a real exchange, refusals included,
// with the right details, and the service's context is the one
// StartRequest returned.
func TestObserverSeesEverything(t *testing.T) {
	rec := &recorder{}
	var seen sync.Map
	hs := newHarness(t, &ratatoskrhttp.Options{Observer: rec, RequestRate: 0.01, RequestBurst: 5}, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("ctx", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			seen.Store(r.RequestID, ctx.Value(ctxKey{}))
			return &ratatoskrhttp.Response{Payload: []byte("abc")}, nil
		})
	})
	d := newDevice(t, "alice", "phone-1").connect(hs)
	ok := d.business("ctx", []byte("hello"))
	d.roundTrip(ok)
	d.expectCode(d.business("nowhere", nil), envelope.CodeUnknownService)
	d.expectCode(ok, envelope.CodeReplayDetected)
	forged := d.business("echo", []byte("a"))
	forged.Payload = []byte("b")
	d.expectCode(forged, envelope.CodeSignatureInvalid)
	d.sendRaw(websocket.MessageBinary, []byte{0xff, 0xff})
	d.recv()
	d.heartbeat()
	d.expectCode(d.business("echo", nil), envelope.CodeRateLimited) // the 6th request of the session
	d.roundTrip(mustDisconnect(t, d))
	d.expectClose(websocket.StatusNormalClosure)
	bad := newDevice(t, "bob", "phone-1").dial(hs)
	bad.expectCode(bad.connectionRequest("not-a-token"), envelope.CodeAuthFailed)
	bad.expectClose(websocket.StatusPolicyViolation)
	waitFor(t, func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.closed) == 2 })

	if v, _ := seen.Load(ok.RequestId); v != ok.RequestId {
		t.Errorf("the service's context carries %v, want StartRequest's", v)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.opened != 2 || len(rec.handshake) != 2 {
		t.Fatalf("%d opened, %d handshakes", rec.opened, len(rec.handshake))
	}
	if h := rec.handshake[0]; h.Code != "" || h.SessionID == "" || h.UserID != "alice" || h.Scheme != envelope.SchemeV1 || h.Renewal {
		t.Errorf("handshake %+v", h)
	}
	if h := rec.handshake[1]; h.Code != envelope.CodeAuthFailed || h.Err == nil {
		t.Errorf("refused handshake %+v", h)
	}
	var codes []string
	for _, r := range rec.requests {
		codes = append(codes, r.Type.String()+":"+string(r.Code))
	}
	want := "BUSINESS_REQUEST: BUSINESS_REQUEST:UNKNOWN_SERVICE BUSINESS_REQUEST:REPLAY_DETECTED BUSINESS_REQUEST:SIGNATURE_INVALID HEARTBEAT: BUSINESS_REQUEST:RATE_LIMITED DISCONNECT:"
	if got := strings.Join(codes, " "); got != want {
		t.Errorf("requests\n got %s\nwant %s", got, want)
	}
	first := rec.requests[0]
	if first.Service != "ctx" || first.ResponseSize != 3 || string(first.Payload) != "hello" || first.Size == 0 || first.SessionID == "" || first.Latency <= 0 {
		t.Errorf("first request %+v", first)
	}
	if len(rec.started) != 4 { // the business requests that reached a worker
		t.Errorf("%d StartRequest calls, want 4", len(rec.started))
	}
	if len(rec.refused) != 1 || rec.refused[0].Code != envelope.CodeMalformed || rec.refused[0].Size != 2 {
		t.Errorf("refused %+v", rec.refused)
	}
	if len(rec.limited) != 1 || rec.limited[0].Limit != ratatoskrhttp.LimitDeviceRate || rec.limited[0].DeviceID != "phone-1" {
		t.Errorf("limited %+v", rec.limited)
	}
	// Recorded: the handshake, ok, nowhere, the heartbeat, the disconnect.
	if rec.replay[ratatoskrhttp.ReplayRecorded] != 5 || rec.replay[ratatoskrhttp.ReplayDetected] != 1 {
		t.Errorf("replay checks %v", rec.replay)
	}
	reasons := map[ratatoskrhttp.CloseReason]websocket.StatusCode{}
	for _, c := range rec.closed {
		reasons[c.Reason] = c.CloseCode
	}
	if reasons[ratatoskrhttp.ClosedDisconnect] != websocket.StatusNormalClosure || reasons[ratatoskrhttp.ClosedHandshakeFailed] != websocket.StatusPolicyViolation {
		t.Errorf("closes %+v", rec.closed)
	}
}

// The audit log has one record per handshake and per request with the
// documented fields, and never the payload, token or signature.
func TestAuditLog(t *testing.T) {
	var logs logBuffer
	hs := newHarness(t, &ratatoskrhttp.Options{Logger: newLogger(&logs)}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	payload := []byte("secret payload")
	req := d.business("echo", payload)
	d.roundTrip(req)
	d.expectCode(d.business("nowhere", nil), envelope.CodeUnknownService)
	d.roundTrip(mustDisconnect(t, d))
	d.expectClose(websocket.StatusNormalClosure)
	waitFor(t, func() bool {
		for _, r := range logs.records(t) {
			if r["msg"] == "ratatoskr.connection_closed" {
				return true
			}
		}
		return false
	})

	sum := sha256.Sum256(payload)
	var handshakes, requests int
	for _, r := range logs.records(t) {
		line, _ := json.Marshal(r)
		for _, secret := range []string{d.token, string(payload), hex.EncodeToString(req.Signature)} {
			if strings.Contains(string(line), secret) {
				t.Fatalf("logged a secret: %s", line)
			}
		}
		switch r["msg"] {
		case "ratatoskr.handshake":
			handshakes++
			if r["code"] != "OK" || r["user_id"] != "alice" || r["device_id"] != "phone-1" || r["session_id"] == "" || r["scheme"] != "v1" || r["level"] != "INFO" {
				t.Errorf("handshake record %s", line)
			}
		case "ratatoskr.request":
			requests++
			if r["request_id"] == req.RequestId {
				if r["code"] != "OK" || r["service"] != "echo" || r["payload_sha256"] != hex.EncodeToString(sum[:]) ||
					r["payload_size"] != float64(len(payload)) || r["response_size"] != float64(len(payload)) || r["session_id"] == "" {
					t.Errorf("request record %s", line)
				}
			}
			if r["service"] == "nowhere" && (r["code"] != "UNKNOWN_SERVICE" || r["err"] == nil) {
				t.Errorf("refused request record %s", line)
			}
		}
	}
	if handshakes != 1 || requests != 3 {
		t.Fatalf("%d handshake and %d request records, want 1 and 3", handshakes, requests)
	}
}
