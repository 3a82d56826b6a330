package ratatoskrhttp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/nonce"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
	"github.com/ratatoskr-proto/ratatoskr/ratelimit"
)

// dialStatus dials hs and returns the HTTP status of a refused upgrade
// (0 when the upgrade succeeded, in which case the connection is closed).
func dialStatus(t *testing.T, hs *harness) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, hs.url, nil)
	if err == nil {
		ws.CloseNow()
		return 0
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	return resp.StatusCode
}

// heartbeat sends a signed heartbeat and returns its answer.
func (d *device) heartbeat() *pb.RatatoskrResponse {
	d.t.Helper()
	hb, err := d.signer.Heartbeat()
	if err != nil {
		d.t.Fatal(err)
	}
	return d.roundTrip(hb)
}

// On the default settings, one device flooding heartbeats back to back is
// limited at its burst and then closed for the flood of refusals, while a
// second device's requests all succeed meanwhile.
func TestFloodFromOneDeviceLimitedByDefault(t *testing.T) {
	hs := newHarness(t, nil, nil)
	flooder := newDevice(t, "mallory", "phone-1").connect(hs)
	other := newDevice(t, "alice", "phone-1").connect(hs)

	var wg sync.WaitGroup
	var otherErr atomic.Value
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := other.signer.Business("echo", []byte("hi"), nil)
			b, _ := proto.Marshal(req)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := other.ws.Write(ctx, websocket.MessageBinary, b)
			cancel()
			if err != nil {
				otherErr.Store(err)
				return
			}
			resp, err := other.tryRecv(5 * time.Second)
			if err != nil || !resp.Success {
				otherErr.Store(fmt.Errorf("request %d of the second device: %v %v", i, resp, err))
				return
			}
		}
	})

	began := time.Now()
	ok, limited := flood(t, flooder, envelope.CodeRateLimited)
	elapsed := time.Since(began)
	close(stop)
	wg.Wait()
	if err := otherErr.Load(); err != nil {
		t.Fatal(err)
	}
	// The burst is 300, and tokens come back at 100/s while the flood lasts.
	if most := 300 + int(elapsed.Seconds()*100) + 1; ok < 300 || ok > most || limited != 16 {
		t.Fatalf("flooder: %d served, %d RATE_LIMITED in %v; want 300 to %d served and 16 refused (then closed)", ok, limited, elapsed, most)
	}
	other.echo()
}

// flood sends d's heartbeats as fast as its connection takes them until
// the server closes it with 1008 (at most 20,000), and counts the
// successes and the refusals with code; any other answer fails the test.
func flood(t *testing.T, d *device, code envelope.Code) (ok, refused int) {
	t.Helper()
	go func() { // ends when the connection does, or after the bound
		for range 20_000 {
			hb, _ := d.signer.Heartbeat()
			b, _ := proto.Marshal(hb)
			if d.ws.Write(context.Background(), websocket.MessageBinary, b) != nil {
				return
			}
		}
	}()
	for {
		resp, err := d.tryRecv(10 * time.Second)
		if err != nil {
			if s := websocket.CloseStatus(err); s != websocket.StatusPolicyViolation {
				t.Fatalf("flooder: %v, want close 1008", err)
			}
			return ok, refused
		}
		switch {
		case resp.Success:
			ok++
		case resp.ErrorCode == string(code):
			refused++
		default:
			t.Fatalf("flooder got %v", resp)
		}
	}
}

// The per-device limit holds across the device's connections.
func TestDeviceLimitAcrossConnections(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{RequestRate: 0.01, RequestBurst: 3}, nil)
	a := newDevice(t, "alice", "phone-1").connect(hs)
	b := &device{t: t, signer: a.signer, pub: a.pub, token: a.token}
	b.connect(hs)
	a.echo()
	b.echo()
	a.echo()
	b.expectCode(b.business("echo", nil), envelope.CodeRateLimited)
	a.expectCode(a.business("echo", nil), envelope.CodeRateLimited)
	// A DISCONNECT is never refused.
	resp := a.roundTrip(mustDisconnect(t, a))
	if !resp.Success || resp.MessageType != pb.MessageType_DISCONNECT {
		t.Fatalf("disconnect: %v", resp)
	}
}

func mustDisconnect(t *testing.T, d *device) *pb.RatatoskrRequest {
	req, err := d.signer.Disconnect()
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// Past MaxSessionsPerDevice the newest session displaces the oldest, which
// gets DISCONNECT with SESSION_REPLACED and close 1000.
func TestSessionsPerDeviceDisplaceOldest(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{MaxSessionsPerDevice: 2}, nil)
	first := newDevice(t, "alice", "phone-1").connect(hs)
	second := &device{t: t, signer: first.signer, pub: first.pub, token: first.token}
	second.connect(hs)
	third := &device{t: t, signer: first.signer, pub: first.pub, token: first.token}
	third.connect(hs)

	resp := first.recv()
	if resp.MessageType != pb.MessageType_DISCONNECT || resp.ErrorCode != string(envelope.CodeSessionReplaced) {
		t.Fatalf("displaced session got %v", resp)
	}
	first.expectClose(websocket.StatusNormalClosure)
	second.echo()
	third.echo()
	// Another device of the same user is not counted with this one.
	newDevice(t, "alice", "tablet").connect(hs).echo()
	second.echo()
}

// With RefuseNew, the handshake past the limit is refused and the open
// sessions stay.
func TestSessionsPerDeviceRefuseNew(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{MaxSessionsPerDevice: 1, SessionPolicy: ratatoskrhttp.RefuseNew}, nil)
	first := newDevice(t, "alice", "phone-1").connect(hs)
	second := &device{t: t, signer: first.signer, pub: first.pub, token: first.token}
	second.dial(hs)
	second.expectCode(second.connectionRequest(second.token), envelope.CodeRateLimited)
	second.expectClose(websocket.StatusPolicyViolation)
	first.echo()
	// Once the first has gone, the device may connect again.
	first.roundTrip(mustDisconnect(t, first))
	first.expectClose(websocket.StatusNormalClosure)
	waitFor(t, func() bool { return hs.h.Sessions() == 0 })
	third := &device{t: t, signer: first.signer, pub: first.pub, token: first.token}
	third.connect(hs).echo()
}

// The global connection cap refuses upgrades with 503.
func TestMaxConnections(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{MaxConnections: 2}, nil)
	newDevice(t, "alice", "phone-1").connect(hs)
	newDevice(t, "bob", "phone-1").connect(hs)
	if s := dialStatus(t, hs); s != http.StatusServiceUnavailable {
		t.Fatalf("third connection: status %d, want 503", s)
	}
}

// Connections that have not completed their handshake are bounded per
// address; an authenticated one no longer counts.
func TestMaxPendingPerAddr(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{MaxPendingPerAddr: 2}, nil)
	a := newDevice(t, "alice", "phone-1").dial(hs)
	newDevice(t, "bob", "phone-1").dial(hs)
	if s := dialStatus(t, hs); s != http.StatusTooManyRequests {
		t.Fatalf("third pending connection: status %d, want 429", s)
	}
	if resp := a.roundTrip(a.connectionRequest(a.token)); !resp.Success {
		t.Fatal(resp)
	}
	newDevice(t, "carol", "phone-1").connect(hs).echo()
	// Turned off, any number may wait.
	off := newHarness(t, &ratatoskrhttp.Options{MaxPendingPerAddr: -1}, nil)
	for i := range 5 {
		newDevice(t, "dave", fmt.Sprint(i)).dial(off)
	}
}

// The upgrade rate per address is limited.
func TestHandshakeRatePerAddr(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{HandshakeRatePerAddr: 0.01, HandshakeBurstPerAddr: 2}, nil)
	newDevice(t, "alice", "phone-1").connect(hs)
	newDevice(t, "bob", "phone-1").connect(hs)
	if s := dialStatus(t, hs); s != http.StatusTooManyRequests {
		t.Fatalf("third upgrade: status %d, want 429", s)
	}
}

// Before the handshake a frame over MaxHandshakeSize ends the connection
// (1009), and so does the first undecodable frame (MALFORMED, 1008).
func TestPreAuthConnectionIsCheap(t *testing.T) {
	hs := newHarness(t, nil, nil)
	big := newDevice(t, "alice", "phone-1").dial(hs)
	big.sendRaw(websocket.MessageBinary, make([]byte, 20<<10))
	big.expectClose(websocket.StatusMessageTooBig)

	garbage := newDevice(t, "alice", "phone-1").dial(hs)
	garbage.sendRaw(websocket.MessageBinary, []byte{0xff, 0x01})
	if resp := garbage.recv(); resp.ErrorCode != string(envelope.CodeMalformed) {
		t.Fatalf("garbage: %v", resp)
	}
	garbage.expectClose(websocket.StatusPolicyViolation)

	// After the handshake the full message size applies.
	d := newDevice(t, "alice", "phone-1").connect(hs)
	if resp := d.roundTrip(d.business("echo", make([]byte, 64<<10))); !resp.Success {
		t.Fatal(resp)
	}
}

// gateAuth holds every Authenticate call until released (ignoring its
// context, as a careless key resolver would) and records the peak of
// calls running at once.
type gateAuth struct {
	auth.Authenticator
	release       chan struct{}
	running, peak atomic.Int32
	calls         atomic.Int32
	hold          func(call int32) bool // which calls wait for release; nil: all
}

func newGateAuth(t *testing.T) *gateAuth {
	a, err := auth.NewJWT(auth.WithHMACSecret(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	g := &gateAuth{Authenticator: a, release: make(chan struct{})}
	return g
}

func (g *gateAuth) Authenticate(ctx context.Context, token string) (*auth.Identity, error) {
	call := g.calls.Add(1)
	n := g.running.Add(1)
	defer g.running.Add(-1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if g.hold == nil || g.hold(call) {
		<-g.release
	}
	return g.Authenticator.Authenticate(ctx, token)
}

// A key resolver that ignores its context cannot hold a handshake past
// the handshake deadline, and at most MaxConcurrentHandshakes token checks
// run at once however many handshakes come.
func TestHandshakeBoundedEvenIfResolverIgnoresContext(t *testing.T) {
	g := newGateAuth(t)
	hs := newHarness(t, &ratatoskrhttp.Options{Authenticator: g, HandshakeTimeout: 300 * time.Millisecond, MaxConcurrentHandshakes: 2}, nil)
	defer close(g.release) // before the harness's cleanup: the blocked checks end
	const n = 6
	var wg sync.WaitGroup
	codes := make([]string, n)
	for i := range n {
		d := newDevice(t, "alice", fmt.Sprint("phone-", i)).dial(hs)
		wg.Go(func() {
			codes[i] = d.roundTrip(d.connectionRequest(d.token)).ErrorCode
		})
	}
	wg.Wait() // every handshake was answered while the resolver still blocks
	for i, c := range codes {
		if c != string(envelope.CodeUnavailable) {
			t.Errorf("handshake %d: %q, want UNAVAILABLE", i, c)
		}
	}
	if p := g.peak.Load(); p != 2 {
		t.Errorf("%d token checks at once, want 2", p)
	}
}

// A renewal whose token check is slow does not stall the session:
// heartbeats and requests are answered meanwhile, then the renewal is.
func TestSlowRenewalDoesNotStallHeartbeats(t *testing.T) {
	g := newGateAuth(t)
	g.hold = func(call int32) bool { return call == 2 } // the renewal
	hs := newHarness(t, &ratatoskrhttp.Options{Authenticator: g}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	renewal := d.connectionRequest(d.mint(2 * time.Hour))
	d.send(renewal)
	for range 3 {
		if resp := d.heartbeat(); !resp.Success || resp.MessageType != pb.MessageType_HEARTBEAT {
			t.Fatalf("heartbeat during renewal: %v", resp)
		}
	}
	d.echo()
	close(g.release)
	if resp := d.recv(); !resp.Success || resp.RequestId != renewal.RequestId {
		t.Fatalf("renewal: %v", resp)
	}
}

// The abuse count decays: errors spread out never close the session,
// while the same number in a burst does.
func TestAbuseCounterDecays(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{MaxProtocolErrors: 3, ProtocolErrorDecay: 40 * time.Millisecond}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	for range 10 {
		d.sendRaw(websocket.MessageBinary, []byte{0xff})
		if resp := d.recv(); resp.ErrorCode != string(envelope.CodeMalformed) {
			t.Fatal(resp)
		}
		time.Sleep(60 * time.Millisecond)
	}
	d.echo()
	for range 3 {
		d.sendRaw(websocket.MessageBinary, []byte{0xff})
	}
	for range 3 {
		d.recv()
	}
	d.expectClose(websocket.StatusPolicyViolation)
}

// A flood of refused requests (RATE_LIMITED here) closes the connection
// like forged frames do.
func TestRateLimitedFloodCloses(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{RequestRate: 0.01, RequestBurst: 1, MaxProtocolErrors: 4}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	d.heartbeat()
	for range 4 {
		d.expectCode(mustHeartbeat(t, d), envelope.CodeRateLimited)
	}
	d.expectClose(websocket.StatusPolicyViolation)
}

func mustHeartbeat(t *testing.T, d *device) *pb.RatatoskrRequest {
	hb, err := d.signer.Heartbeat()
	if err != nil {
		t.Fatal(err)
	}
	return hb
}

// Disconnect ends exactly the selected sessions: each gets DISCONNECT with
// the code after its in-flight request answered, the others keep working.
func TestDisconnectEndsSelectedSessions(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			started <- struct{}{}
			<-release
			return &ratatoskrhttp.Response{Payload: []byte("done")}, nil
		})
	})
	phone := newDevice(t, "alice", "phone").connect(hs)
	tablet := newDevice(t, "alice", "tablet").connect(hs)
	bob := newDevice(t, "bob", "phone").connect(hs)

	slow := phone.business("slow", nil)
	phone.send(slow)
	<-started
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := hs.h.Disconnect(context.Background(), ratatoskrhttp.Selector{UserID: "alice", DeviceID: "phone"}, envelope.CodeAuthFailed)
		done <- result{n, err}
	}()
	time.Sleep(50 * time.Millisecond)
	close(release)
	if resp := phone.recv(); !resp.Success || resp.RequestId != slow.RequestId {
		t.Fatalf("in-flight answer: %v", resp)
	}
	if resp := phone.recv(); resp.MessageType != pb.MessageType_DISCONNECT || resp.ErrorCode != string(envelope.CodeAuthFailed) {
		t.Fatalf("notice: %v", resp)
	}
	phone.expectClose(websocket.StatusPolicyViolation)
	if r := <-done; r.n != 1 || r.err != nil {
		t.Fatalf("Disconnect = %d, %v; want 1", r.n, r.err)
	}
	tablet.echo()
	bob.echo()

	n, err := hs.h.Disconnect(context.Background(), ratatoskrhttp.Selector{UserID: "alice"}, envelope.CodeSessionExpired)
	if n != 1 || err != nil {
		t.Fatalf("Disconnect(alice) = %d, %v; want 1", n, err)
	}
	if resp := tablet.recv(); resp.ErrorCode != string(envelope.CodeSessionExpired) {
		t.Fatalf("tablet: %v", resp)
	}
	tablet.expectClose(websocket.StatusNormalClosure)
	bob.echo()
	if n, _ := hs.h.Disconnect(context.Background(), ratatoskrhttp.Selector{}, ""); n != 0 {
		t.Fatalf("the zero selector ended %d sessions", n)
	}
}

// Revoked is asked at the handshake and at renewal: a revoked identity is
// refused AUTH_FAILED, an unreachable list UNAVAILABLE.
func TestRevokedHook(t *testing.T) {
	var revoked sync.Map
	listDown := errors.New("revocation list down")
	hs := newHarness(t, &ratatoskrhttp.Options{Revoked: func(ctx context.Context, id *auth.Identity) (bool, error) {
		if id.DeviceID == "broken" {
			return false, listDown
		}
		_, ok := revoked.Load(id.DeviceID)
		return ok, nil
	}}, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	revoked.Store("phone-1", true)
	d.expectCode(d.connectionRequest(d.mint(time.Hour)), envelope.CodeAuthFailed)
	d.echo() // a refused renewal leaves the session as it was

	again := newDevice(t, "alice", "phone-1")
	again.signer, again.pub, again.token = d.signer, d.pub, d.token
	again.dial(hs)
	again.expectCode(again.connectionRequest(again.token), envelope.CodeAuthFailed)
	again.expectClose(websocket.StatusPolicyViolation)

	broken := newDevice(t, "alice", "broken").dial(hs)
	broken.expectCode(broken.connectionRequest(broken.token), envelope.CodeUnavailable)
}

// Per-user and per-service limiters apply to business requests.
func TestUserAndServiceLimiters(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{
		UserLimiter:     ratelimit.NewMemory(ratelimit.Limit{Rate: 0.01, Burst: 3}, nil),
		ServiceLimiters: map[string]ratelimit.Limiter{"slowpoke": ratelimit.NewMemory(ratelimit.Limit{Rate: 0.01, Burst: 1}, nil)},
	}, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("slowpoke", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			return &ratatoskrhttp.Response{}, nil
		})
	})
	phone := newDevice(t, "alice", "phone").connect(hs)
	tablet := newDevice(t, "alice", "tablet").connect(hs)
	bob := newDevice(t, "bob", "phone").connect(hs)
	phone.echo()
	tablet.echo()
	phone.echo()
	tablet.expectCode(tablet.business("echo", nil), envelope.CodeRateLimited)
	if resp := tablet.heartbeat(); !resp.Success {
		t.Fatalf("heartbeats are not per-user limited: %v", resp)
	}
	if resp := bob.roundTrip(bob.business("slowpoke", nil)); !resp.Success {
		t.Fatal(resp)
	}
	bob.expectCode(bob.business("slowpoke", nil), envelope.CodeRateLimited)
	bob.echo()
}

// With the rate limit off, a device that fills its share of the memory
// replay store is refused UNAVAILABLE (and closed for the flood of
// refusals) while another device is still served.
func TestReplayStoreShareProtectsOthers(t *testing.T) {
	store := nonce.NewMemory(&nonce.MemoryOptions{Capacity: 1 << 14, Shards: 4, MaxPerScope: 256})
	hs := newHarness(t, &ratatoskrhttp.Options{RequestRate: -1, Validation: &envelope.ValidatorOptions{Nonces: store}}, nil)
	flooder := newDevice(t, "mallory", "phone-1").connect(hs)
	other := newDevice(t, "alice", "phone-1").connect(hs)
	ok, refused := flood(t, flooder, envelope.CodeUnavailable)
	// The share is enforced per shard: within 25% and 8 records a shard.
	if ok < 200 || ok > 360 || refused != 16 {
		t.Fatalf("flooder: %d recorded, %d refused; want about 256, then 16 refusals and the close", ok, refused)
	}
	for range 50 {
		other.echo()
	}
}
