package ratatoskrhttp_test

// A soak test: many well-behaved devices, hostile ones and a flooder on
// real WebSocket connections at once, checking every answer.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/internal/forge"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// soakConfig sizes a soak run.
type soakConfig struct {
	long           bool
	devices        int           // well-behaved devices, one connection each at a time
	requests       int           // business requests per device and round
	rounds         int           // a round: every device connects, sends its requests, says goodbye
	hostileDevices int           // hostile devices, sharing about 10% of the frames
	cutRate        float64       // share of device rounds cut (CloseNow) mid-stream
	budget         time.Duration // the run is cut short (and fails) past this
}

func soakConfigFromEnv() soakConfig {
	if os.Getenv("RATATOSKR_SOAK") != "" {
		return soakConfig{long: true, devices: 200, requests: 100, rounds: 10, hostileDevices: 20, cutRate: 0.1, budget: 170 * time.Second}
	}
	return soakConfig{devices: 40, requests: 30, rounds: 2, hostileDevices: 4, cutRate: 0.1, budget: 60 * time.Second}
}

const (
	// soakMaxProtocolErrors is Options.MaxProtocolErrors' default, which
	// the handshake does not announce: the refusals in a burst (well within
	// ProtocolErrorDecay, 10 s, here) that close a connection.
	soakMaxProtocolErrors = 16
	soakIOTimeout         = 15 * time.Second // one read or write; far above any answer's time
	soakHostileWindow     = 4                // hostile frames in flight per connection
	soakSeed              = 0x5eed
)

// TestSoak runs well-behaved devices (pipelined, paced below the device
// rate limit, some cut mid-stream and reconnected), hostile devices
// (replays, re-cut replays, bad signatures, garbage, oversized frames) and
// a flooding device at once against one handler with its default limits,
// and checks that every answer is the right one, that abuse closes only
// the abusers, and that nothing is left running after Shutdown.
//
// Short by default; RATATOSKR_SOAK=1 runs the long variant (200 devices
// × 100 requests × 10 rounds), which logs each round and a summary.
func TestSoak(t *testing.T) {
	cfg := soakConfigFromEnv()
	baseline := runtime.NumGoroutine()
	began := time.Now()
	mon := startSoakMonitor()
	defer mon.stop()

	hs := newHarness(t, &ratatoskrhttp.Options{
		// Every connection comes from 127.0.0.1, so the per-address limits
		// would count all devices as one address behind a NAT and refuse
		// upgrades that no real address would send; they are off here and
		// every other limit is at its default.
		MaxPendingPerAddr:    -1,
		HandshakeRatePerAddr: -1,
	}, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("slow", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			if d := soakSlowDelay(r.Payload); d > 0 {
				tm := time.NewTimer(d)
				defer tm.Stop()
				select {
				case <-tm.C:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return &ratatoskrhttp.Response{Payload: r.Payload}, nil
		})
		h.HandleFunc("flaky", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			if soakFlakyPanics(r.Payload) {
				panic("soak: the flaky service fails on purpose")
			}
			return &ratatoskrhttp.Response{Payload: r.Payload}, nil
		})
	})

	// The limits the handshake announces set the clients' pace.
	probe := newDevice(t, "soak-probe", "phone").dial(hs)
	lim := envelope.LimitsOf(probe.roundTrip(probe.connectionRequest(probe.token)))
	if lim.RequestRate <= 0 || lim.RequestBurst <= 0 || lim.MaxInFlight <= 0 {
		t.Fatalf("the handshake announces no limits: %+v", lim)
	}
	probe.ws.Close(websocket.StatusNormalClosure, "")

	ctx, cancel := context.WithTimeout(context.Background(), cfg.budget)
	defer cancel()
	s := &soak{cfg: cfg, hs: hs, lim: lim, cancel: cancel,
		window: min(8, lim.MaxInFlight/4),
		big:    make([]byte, envelope.DefaultMaxMessageSize+64<<10),
		codes:  map[string]int{}, kinds: map[string]int{}}

	// Identities are made here: newDevice may call t.Fatal.
	wells := make([]*soakDevice, cfg.devices)
	for i := range wells {
		wells[i] = &soakDevice{n: i, id: newDevice(t, fmt.Sprintf("soak-user-%03d", i), "phone"),
			rng:  rand.New(rand.NewPCG(soakSeed, uint64(i))),
			pace: rate.NewLimiter(rate.Limit(0.8*lim.RequestRate), min(50, lim.RequestBurst/6))}
	}
	hostiles := make([]*soakHostile, cfg.hostileDevices)
	for i := range hostiles {
		hostiles[i] = &soakHostile{n: i, id: newDevice(t, fmt.Sprintf("soak-mallory-%02d", i), "laptop"),
			rng:  rand.New(rand.NewPCG(soakSeed, 1<<32|uint64(i))),
			pace: rate.NewLimiter(rate.Limit(0.6*lim.RequestRate), soakHostileWindow)}
	}
	flooders := make([]*device, cfg.rounds)
	for r := range flooders {
		flooders[r] = newDevice(t, "soak-flooder", fmt.Sprintf("round-%d", r))
	}
	// About 10% of the frames are hostile.
	hostileFrames := cfg.devices * cfg.requests / 9 / max(1, cfg.hostileDevices)

	kept := make([]*device, cfg.devices) // the last round's sessions, open until Shutdown
	for round := range cfg.rounds {
		last := round == cfg.rounds-1
		var wg sync.WaitGroup
		for i, w := range wells {
			wg.Go(func() { kept[i] = s.runDevice(ctx, w, round, last) })
		}
		for _, h := range hostiles {
			wg.Go(func() { s.runHostile(ctx, h, round, hostileFrames) })
		}
		wg.Go(func() { s.runFlood(ctx, flooders[round]) })
		wg.Wait()
		if ctx.Err() != nil {
			break
		}
		if cfg.long {
			// Growth from round to round would be a leak, but for the
			// replay records, which the nonce store keeps for 331 s.
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			t.Logf("round %d done at %v: %d sessions open, %d goroutines, heap in use after GC %.1f MiB",
				round, time.Since(began).Round(time.Millisecond), hs.h.Sessions(), runtime.NumGoroutine(), float64(ms.HeapInuse)/(1<<20))
		}
	}
	trafficDone := time.Since(began)

	// The server is still up: a fresh device connects and echoes.
	fresh := newDevice(t, "soak-fresh", "phone").connect(hs)
	fresh.echo()
	kept = append(kept, fresh)

	// Shutdown says goodbye to every open session, which reads it.
	var readers sync.WaitGroup
	for _, d := range kept {
		if d == nil {
			continue
		}
		readers.Go(func() { s.expectShutdown(d) })
	}
	sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer scancel()
	if err := hs.h.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	readers.Wait()
	if n := hs.h.Sessions(); n != 0 {
		t.Errorf("%d sessions after Shutdown", n)
	}
	for _, d := range kept {
		if d != nil {
			d.ws.CloseNow()
		}
	}
	hs.srv.Close()
	peakG, peakHeap := mon.stop()
	final := soakSettle(baseline)
	if final > baseline+2 {
		var dump strings.Builder
		pprof.Lookup("goroutine").WriteTo(&dump, 1)
		t.Errorf("%d goroutines left after Shutdown, %d before the test:\n%.8000s", final, baseline, dump.String())
	}
	elapsed := time.Since(began)

	s.report(t, soakFigures{baseline: baseline, final: final, peakG: peakG, peakHeap: peakHeap,
		traffic: trafficDone, elapsed: elapsed})
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("the run did not finish within its budget of %v", cfg.budget)
	}
}

// soak is the run's shared state: counters and the errors seen.
type soak struct {
	cfg    soakConfig
	hs     *harness
	lim    envelope.Limits
	window int    // business requests in flight per well-behaved connection
	big    []byte // payload source for oversized frames (read only)
	cancel context.CancelFunc

	// Well-behaved traffic.
	planned, sent, answered, internal, lost atomic.Int64
	cuts, wellConns, goodbyes               atomic.Int64
	wellRateLimited                         atomic.Int64
	// Hostile traffic.
	hostileSent, hostileExact, hostileEnding, hostileAfterClose atomic.Int64
	hostileConns, hostileClosed, captures                       atomic.Int64
	// Floods.
	floods, floodServed, floodLimited atomic.Int64

	mu                  sync.Mutex
	wellErrs, otherErrs []string
	nWell, nOther       int
	codes               map[string]int // hostile answers by code
	kinds               map[string]int // hostile frames sent by kind
	minRefusals         int            // refusals a closed hostile connection got before its close
	maxRefusals         int
}

// wellError records an error seen by a well-behaved device.
func (s *soak) wellError(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nWell++
	if len(s.wellErrs) < 20 {
		s.wellErrs = append(s.wellErrs, fmt.Sprintf(format, args...))
	}
	if s.nWell+s.nOther > 200 {
		s.cancel() // hopeless: stop the run
	}
}

// otherError records a wrong answer to a hostile device or the flooder.
func (s *soak) otherError(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nOther++
	if len(s.otherErrs) < 20 {
		s.otherErrs = append(s.otherErrs, fmt.Sprintf(format, args...))
	}
	if s.nWell+s.nOther > 200 {
		s.cancel()
	}
}

// dial opens a session for the identity id on a new connection and returns
// it as a device of its own (same signer and token), whose connection the
// caller closes.
func (s *soak) dial(ctx context.Context, id *device) (_ *device, err error) {
	d := &device{t: id.t, signer: id.signer, pub: id.pub, token: id.token}
	dctx, cancel := context.WithTimeout(ctx, soakIOTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, s.hs.url, &websocket.DialOptions{Subprotocols: []string{ratatoskrhttp.Subprotocol}})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer func() {
		if err != nil {
			ws.CloseNow()
		}
	}()
	ws.SetReadLimit(8 << 20)
	d.ws = ws
	req, err := d.signer.ConnectionRequest(d.token)
	if err != nil {
		return nil, err
	}
	if err := soakWrite(ctx, ws, req); err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	resp, err := soakRead(ctx, ws)
	if err != nil {
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if !resp.Success || resp.RequestId != req.RequestId || resp.MessageType != pb.MessageType_CONNECTION_RESPONSE {
		return nil, fmt.Errorf("handshake refused: %v", resp)
	}
	return d, nil
}

func soakWrite(ctx context.Context, ws *websocket.Conn, req *pb.RatatoskrRequest) error {
	b, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	return soakWriteRaw(ctx, ws, b)
}

func soakWriteRaw(ctx context.Context, ws *websocket.Conn, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, soakIOTimeout)
	defer cancel()
	return ws.Write(wctx, websocket.MessageBinary, b)
}

// soakRead reads one answer, within soakIOTimeout.
func soakRead(ctx context.Context, ws *websocket.Conn) (*pb.RatatoskrResponse, error) {
	rctx, cancel := context.WithTimeout(ctx, soakIOTimeout)
	defer cancel()
	typ, b, err := ws.Read(rctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageBinary {
		return nil, errors.New("server sent a text frame")
	}
	var resp pb.RatatoskrResponse
	if err := proto.Unmarshal(b, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// soakHash decides, from the payload alone, what the slow and flaky
// services do, so that the device knows every answer in advance.
func soakHash(p []byte) uint32 {
	h := fnv.New32a()
	h.Write(p)
	return h.Sum32()
}

// soakSlowDelay is how long the slow service takes: mostly nothing, now
// and then a few ms, one time in eight 20 to 50 ms.
func soakSlowDelay(p []byte) time.Duration {
	h := soakHash(p)
	switch {
	case h%8 == 0:
		return time.Duration(20+h/8%31) * time.Millisecond
	case h%3 == 0:
		return time.Duration(1+h/3%5) * time.Millisecond
	}
	return 0
}

// soakFlakyPanics says whether the flaky service panics on p: about one
// request in five.
func soakFlakyPanics(p []byte) bool { return soakHash(p)>>8%5 == 0 }

// soakDevice is a well-behaved device: one identity, its pace (kept
// across its connections, as the server's limit is) and its plan.
type soakDevice struct {
	n    int
	id   *device
	rng  *rand.Rand
	pace *rate.Limiter
}

type soakReq struct {
	service string
	payload []byte
	panics  bool // the flaky service panics on it: the answer is INTERNAL
}

func (w *soakDevice) plan(round, n int) []soakReq {
	reqs := make([]soakReq, n)
	for j := range reqs {
		p := fmt.Appendf(nil, "dev%d/round%d/req%d/", w.n, round, j)
		for range w.rng.IntN(48) {
			p = append(p, byte('a'+w.rng.IntN(26)))
		}
		svc := "echo"
		switch w.rng.IntN(4) {
		case 0:
			svc = "slow"
		case 1:
			svc = "flaky"
		}
		reqs[j] = soakReq{service: svc, payload: p, panics: svc == "flaky" && soakFlakyPanics(p)}
	}
	return reqs
}

// runDevice sends one round of w's requests, over a second connection
// when the first is cut, and says goodbye, or, in the last round, returns
// the session left open for Shutdown. It returns nil after an error
// (recorded).
func (s *soak) runDevice(ctx context.Context, w *soakDevice, round int, keep bool) *device {
	reqs := w.plan(round, s.cfg.requests)
	s.planned.Add(int64(len(reqs)))
	cutAt := -1
	if w.rng.Float64() < s.cfg.cutRate && len(reqs) >= 5 {
		cutAt = len(reqs)/5 + w.rng.IntN(len(reqs)*3/5)
	}
	var d *device
	for next := 0; next < len(reqs); {
		var err error
		d, err = s.dial(ctx, w.id)
		if err != nil {
			s.wellError("device %d round %d: %v", w.n, round, err)
			return nil
		}
		s.wellConns.Add(1)
		end, cut := len(reqs), false
		if cutAt >= next {
			end, cut = cutAt+1, true
		}
		if !s.serveBatch(ctx, w, d, round, reqs[next:end], cut) {
			d.ws.CloseNow()
			return nil
		}
		next = end
		if cut {
			s.cuts.Add(1)
			cutAt = -1
		}
	}
	if keep {
		return d
	}
	s.goodbye(ctx, w, d)
	return nil
}

// serveBatch sends reqs on d, pipelined (s.window in flight) and paced,
// and checks every answer, matched by request_id. With cut, the
// connection is cut (CloseNow) right after the last request is written:
// the answers not received by then are lost with it.
func (s *soak) serveBatch(ctx context.Context, w *soakDevice, d *device, round int, reqs []soakReq, cut bool) bool {
	bctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	pending := make(map[string]*soakReq, s.window)
	slots := make(chan struct{}, s.window)
	var cutDone atomic.Bool
	werr := make(chan error, 1)
	go func() { // the writer; awaited below through werr
		for i := range reqs {
			select {
			case slots <- struct{}{}:
			case <-bctx.Done():
				werr <- bctx.Err()
				return
			}
			if err := w.pace.Wait(bctx); err != nil {
				werr <- err
				return
			}
			req, err := d.signer.Business(reqs[i].service, reqs[i].payload, nil)
			if err != nil {
				werr <- err
				return
			}
			mu.Lock()
			pending[req.RequestId] = &reqs[i]
			mu.Unlock()
			if err := soakWrite(ctx, d.ws, req); err != nil {
				werr <- fmt.Errorf("write: %w", err)
				return
			}
			s.sent.Add(1)
		}
		if cut {
			cutDone.Store(true)
			d.ws.CloseNow()
		}
		werr <- nil
	}()

	ok := true
	for answered := 0; answered < len(reqs); {
		resp, err := soakRead(ctx, d.ws)
		if err != nil {
			if cut && cutDone.Load() {
				break
			}
			s.wellError("device %d round %d: read after %d of %d answers: %v", w.n, round, answered, len(reqs), err)
			ok = false
			break
		}
		mu.Lock()
		p := pending[resp.RequestId]
		delete(pending, resp.RequestId)
		mu.Unlock()
		if p == nil {
			s.wellError("device %d round %d: answer to a request not sent or already answered: %v", w.n, round, resp)
			ok = false
			break
		}
		answered++
		s.answered.Add(1)
		if err := s.checkAnswer(p, resp); err != nil {
			s.wellError("device %d round %d: %s %q: %v", w.n, round, p.service, p.payload, err)
			ok = false
		}
		<-slots
	}
	if !ok {
		d.ws.CloseNow()
		stop()
	}
	if err := <-werr; err != nil && ok {
		s.wellError("device %d round %d: %v", w.n, round, err)
		ok = false
	}
	mu.Lock()
	left := len(pending)
	mu.Unlock()
	switch {
	case cut:
		s.lost.Add(int64(left))
	case ok && left > 0:
		s.wellError("device %d round %d: %d requests unanswered", w.n, round, left)
		ok = false
	}
	return ok
}

// checkAnswer checks resp against what p must get.
func (s *soak) checkAnswer(p *soakReq, resp *pb.RatatoskrResponse) error {
	if resp.ErrorCode == string(envelope.CodeRateLimited) {
		s.wellRateLimited.Add(1)
	}
	if resp.MessageType != pb.MessageType_BUSINESS_REQUEST {
		return fmt.Errorf("answer of type %v", resp.MessageType)
	}
	if p.panics {
		if resp.Success || resp.ErrorCode != string(envelope.CodeInternal) {
			return fmt.Errorf("got success=%v %s %q, want INTERNAL", resp.Success, resp.ErrorCode, resp.ErrorMessage)
		}
		s.internal.Add(1)
		return nil
	}
	if !resp.Success {
		return fmt.Errorf("refused: %s %q", resp.ErrorCode, resp.ErrorMessage)
	}
	if !bytes.Equal(resp.Payload, p.payload) {
		return fmt.Errorf("payload %q", resp.Payload)
	}
	if p.service == "echo" && resp.Metadata["echoed"] != "yes" {
		return fmt.Errorf("metadata %v", resp.Metadata)
	}
	return nil
}

// goodbye ends d's session with a DISCONNECT: answered with success, then
// close 1000.
func (s *soak) goodbye(ctx context.Context, w *soakDevice, d *device) {
	defer d.ws.CloseNow()
	req, err := d.signer.Disconnect()
	if err == nil {
		err = soakWrite(ctx, d.ws, req)
	}
	if err != nil {
		s.wellError("device %d: DISCONNECT: %v", w.n, err)
		return
	}
	resp, err := soakRead(ctx, d.ws)
	if err != nil || !resp.Success || resp.MessageType != pb.MessageType_DISCONNECT || resp.RequestId != req.RequestId {
		s.wellError("device %d: DISCONNECT answered %v, %v", w.n, resp, err)
		return
	}
	if _, err := soakRead(ctx, d.ws); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		s.wellError("device %d: after DISCONNECT: %v, want close 1000", w.n, err)
		return
	}
	s.goodbyes.Add(1)
}

// expectShutdown reads what Shutdown sends an idle session: a DISCONNECT
// with SERVER_SHUTDOWN, then close 1001.
func (s *soak) expectShutdown(d *device) {
	ctx := context.Background()
	resp, err := soakRead(ctx, d.ws)
	if err != nil || resp.MessageType != pb.MessageType_DISCONNECT || resp.ErrorCode != string(envelope.CodeServerShutdown) {
		s.wellError("%s at Shutdown: %v, %v; want DISCONNECT SERVER_SHUTDOWN", d.signer.UserID, resp, err)
		return
	}
	if _, err := soakRead(ctx, d.ws); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		s.wellError("%s at Shutdown: %v, want close 1001", d.signer.UserID, err)
	}
}

// Hostile frames.
type hostileKind uint8

const (
	hostileReplay    hostileKind = iota // an accepted request, sent again as it was
	hostileShifted                      // the same, with bytes moved between nonce and payload
	hostileBadSig                       // a fresh request with one signature bit flipped
	hostileGarbage                      // bytes that are no RatatoskrRequest
	hostileOversized                    // a request over MaxMessageSize (under 4×)
)

func (k hostileKind) String() string {
	return [...]string{"replay", "shifted replay", "bad signature", "garbage", "oversized"}[k]
}

// code is the answer the frame must get. A shifted replay keeps its
// signature valid (the digest covers nonce‖payload as one), so the
// validator gets to the replay record, which is keyed on that digest.
func (k hostileKind) code() envelope.Code {
	switch k {
	case hostileReplay, hostileShifted:
		return envelope.CodeReplayDetected
	case hostileBadSig:
		return envelope.CodeSignatureInvalid
	case hostileGarbage:
		return envelope.CodeMalformed
	}
	return envelope.CodePayloadTooLarge
}

// decodes says whether the frame decodes: such frames reach the session's
// state check, and get CONNECTION_REJECTED once the session is ending.
func (k hostileKind) decodes() bool { return k <= hostileBadSig }

// soakHostile is a hostile device: its own identity, and the requests it
// got accepted, to replay.
type soakHostile struct {
	n        int
	id       *device
	rng      *rand.Rand
	pace     *rate.Limiter
	captures []*pb.RatatoskrRequest
}

func (h *soakHostile) plan(n int) []hostileKind {
	kinds := make([]hostileKind, n)
	for i := range kinds {
		switch x := h.rng.IntN(100); {
		case x < 30:
			kinds[i] = hostileReplay
		case x < 55:
			kinds[i] = hostileShifted
		case x < 80:
			kinds[i] = hostileBadSig
		case x < 97:
			kinds[i] = hostileGarbage
		default:
			kinds[i] = hostileOversized
		}
	}
	return kinds
}

// frame builds a frame of kind k and returns the request_id its answer
// carries ("" for garbage).
func (h *soakHostile) frame(k hostileKind, big []byte) (string, []byte, error) {
	switch k {
	case hostileReplay:
		c := h.captures[h.rng.IntN(len(h.captures))]
		b, err := proto.Marshal(c)
		return c.RequestId, b, err
	case hostileShifted:
		c := h.captures[h.rng.IntN(len(h.captures))]
		shifts := [...]int{-8, -3, -1, 1, 3, 8}
		b, err := proto.Marshal(forge.MoveBoundary(c, shifts[h.rng.IntN(len(shifts))]))
		return c.RequestId, b, err
	case hostileBadSig:
		req, err := h.id.signer.Business("echo", fmt.Appendf(nil, "forged by %d", h.n), nil)
		if err != nil {
			return "", nil, err
		}
		req.Signature[h.rng.IntN(len(req.Signature))] ^= 1 << h.rng.IntN(8)
		b, err := proto.Marshal(req)
		return req.RequestId, b, err
	case hostileGarbage:
		// Field 31 with wire type 7, which does not exist: never decodes.
		b := []byte{0xff, 0x01}
		for range h.rng.IntN(200) {
			b = append(b, byte(h.rng.Uint32()))
		}
		return "", b, nil
	}
	req, err := h.id.signer.Business("echo", big[:envelope.DefaultMaxMessageSize+1+h.rng.IntN(len(big)-envelope.DefaultMaxMessageSize-1)], nil)
	if err != nil {
		return "", nil, err
	}
	b, err := proto.Marshal(req)
	return req.RequestId, b, err
}

// runHostile sends n hostile frames of h's this round, on as many
// connections as the server closes.
func (s *soak) runHostile(ctx context.Context, h *soakHostile, round, n int) {
	kinds := h.plan(n)
	for len(kinds) > 0 && ctx.Err() == nil {
		used, ok := s.hostileConn(ctx, h, round, kinds)
		if !ok {
			return
		}
		if used == 0 {
			s.otherError("hostile %d round %d: a connection took no frame", h.n, round)
			return
		}
		kinds = kinds[used:]
	}
}

// hostileConn opens a connection for h, gets two requests accepted to
// replay later, then sends kinds, pipelined, until done or until the
// server closes the connection. Every answer must be the frame's code, or
// CONNECTION_REJECTED for a decodable frame read once the session is
// ending (after at least MaxProtocolErrors refusals); frames left
// unanswered by the close were read after it. It returns how many frames
// it took.
func (s *soak) hostileConn(ctx context.Context, h *soakHostile, round int, kinds []hostileKind) (int, bool) {
	d, err := s.dial(ctx, h.id)
	if err != nil {
		s.otherError("hostile %d round %d: %v", h.n, round, err)
		return 0, false
	}
	defer d.ws.CloseNow()
	s.hostileConns.Add(1)
	opened := time.Now()
	for i := range 2 {
		c, err := h.id.signer.Business("echo", fmt.Appendf(nil, "capture %d/%d/%d", h.n, round, i), nil)
		if err == nil {
			err = soakWrite(ctx, d.ws, c)
		}
		var resp *pb.RatatoskrResponse
		if err == nil {
			resp, err = soakRead(ctx, d.ws)
		}
		if err != nil || !resp.Success || resp.RequestId != c.RequestId {
			s.otherError("hostile %d round %d: capture refused: %v, %v", h.n, round, resp, err)
			return 0, false
		}
		h.captures = append(h.captures, c)
		s.captures.Add(1)
	}

	type want struct {
		code    envelope.Code
		decodes bool
		n       int // frames awaiting an answer
	}
	var mu sync.Mutex
	expect := map[string]*want{}
	taken := 0
	bctx, stop := context.WithCancel(ctx)
	defer stop()
	slots := make(chan struct{}, soakHostileWindow)
	done := make(chan struct{})
	go func() { // the writer; awaited through done
		defer close(done)
		for _, k := range kinds {
			select {
			case slots <- struct{}{}:
			case <-bctx.Done():
				return
			}
			if h.pace.Wait(bctx) != nil {
				return
			}
			id, b, err := h.frame(k, s.big)
			if err != nil {
				s.otherError("hostile %d: building a %v frame: %v", h.n, k, err)
				return
			}
			mu.Lock()
			w := expect[id]
			if w == nil {
				w = &want{code: k.code(), decodes: k.decodes()}
				expect[id] = w
			}
			w.n++
			taken++
			mu.Unlock()
			s.hostileSent.Add(1)
			s.countKind(k)
			if soakWriteRaw(bctx, d.ws, b) != nil {
				return // closed by the server meanwhile
			}
		}
	}()

	refusals, answered := 0, 0
	closed := false
	for answered < len(kinds) {
		resp, err := soakRead(ctx, d.ws)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				s.otherError("hostile %d round %d: connection ended after %d refusals: %v, want close 1008", h.n, round, refusals, err)
				stop()
				<-done
				return 0, false
			}
			closed = true
			break
		}
		mu.Lock()
		w := expect[resp.RequestId]
		if w != nil && w.n > 0 {
			w.n--
		} else {
			w = nil
		}
		mu.Unlock()
		if w == nil {
			s.otherError("hostile %d round %d: answer to no frame sent: %v", h.n, round, resp)
			continue
		}
		answered++
		<-slots
		wantType := pb.MessageType_ERROR
		if w.decodes {
			wantType = pb.MessageType_BUSINESS_REQUEST
		}
		switch {
		case resp.Success || resp.MessageType != wantType:
			s.otherError("hostile %d round %d: a %s frame got %v", h.n, round, w.code, resp)
		case resp.ErrorCode == string(w.code):
			refusals++
			s.hostileExact.Add(1)
			s.count(resp.ErrorCode)
		case resp.ErrorCode == string(envelope.CodeConnectionRejected) && w.decodes && refusals >= soakMaxProtocolErrors:
			s.hostileEnding.Add(1)
		default:
			s.otherError("hostile %d round %d: a %s frame got %s %q (after %d refusals)", h.n, round, w.code, resp.ErrorCode, resp.ErrorMessage, refusals)
		}
	}
	if !closed && refusals >= soakMaxProtocolErrors {
		// The last frames made the count: the close follows them.
		_, err := soakRead(ctx, d.ws)
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			s.otherError("hostile %d round %d: after %d refusals in %v: %v, want close 1008", h.n, round, refusals, time.Since(opened), err)
		}
		closed = true
	}
	if closed {
		stop() // the writer may wait for a slot or be writing into the closed connection
	}
	<-done // otherwise it has written every frame: each was answered
	mu.Lock()
	unanswered := 0
	for _, w := range expect {
		unanswered += w.n
	}
	mu.Unlock()
	s.hostileAfterClose.Add(int64(unanswered))
	if closed {
		s.hostileClosed.Add(1)
		if refusals < soakMaxProtocolErrors {
			s.otherError("hostile %d round %d: closed after %d refusals, want %d", h.n, round, refusals, soakMaxProtocolErrors)
		}
		s.mu.Lock()
		if s.minRefusals == 0 || refusals < s.minRefusals {
			s.minRefusals = refusals
		}
		s.maxRefusals = max(s.maxRefusals, refusals)
		s.mu.Unlock()
	} else {
		if unanswered > 0 {
			s.otherError("hostile %d round %d: %d frames unanswered on an open connection", h.n, round, unanswered)
		}
		d.ws.Close(websocket.StatusNormalClosure, "")
	}
	return taken, true
}

func (s *soak) count(code string) {
	s.mu.Lock()
	s.codes[code]++
	s.mu.Unlock()
}

func (s *soak) countKind(k hostileKind) {
	s.mu.Lock()
	s.kinds[k.String()]++
	s.mu.Unlock()
}

// runFlood sends heartbeats back to back from a fresh device: its burst
// is served, then RATE_LIMITED until MaxProtocolErrors of them close the
// connection with 1008.
func (s *soak) runFlood(ctx context.Context, id *device) {
	d, err := s.dial(ctx, id)
	if err != nil {
		s.otherError("flooder %s: %v", id.signer.DeviceID, err)
		return
	}
	defer d.ws.CloseNow()
	s.floods.Add(1)
	began := time.Now()
	fctx, stop := context.WithCancel(ctx)
	// Back to back, but no more than lead unanswered: the pipe never
	// empties, and the server does not have to read through a backlog of
	// thousands of frames after its close.
	const lead = 128
	slots := make(chan struct{}, lead)
	done := make(chan struct{})
	go func() { // the flood; awaited through done
		defer close(done)
		for range 50 * s.lim.RequestBurst {
			select {
			case slots <- struct{}{}:
			case <-fctx.Done():
				return
			}
			hb, err := d.signer.Heartbeat()
			if err != nil || soakWrite(fctx, d.ws, hb) != nil {
				return
			}
		}
	}()
	served, limited := 0, 0
	for {
		resp, err := soakRead(ctx, d.ws)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				s.otherError("flooder: %v after %d served and %d refused, want close 1008", err, served, limited)
			}
			break
		}
		select {
		case <-slots:
		default:
			s.otherError("flooder got an answer to no heartbeat: %v", resp)
		}
		switch {
		case resp.Success && resp.MessageType == pb.MessageType_HEARTBEAT:
			served++
		case resp.ErrorCode == string(envelope.CodeRateLimited):
			limited++
		default:
			s.otherError("flooder got %v", resp)
		}
	}
	elapsed := time.Since(began)
	stop()
	d.ws.CloseNow()
	<-done
	s.floodServed.Add(int64(served))
	s.floodLimited.Add(int64(limited))
	most := s.lim.RequestBurst + int(elapsed.Seconds()*s.lim.RequestRate) + 1
	if served < s.lim.RequestBurst || served > most || limited != soakMaxProtocolErrors {
		s.otherError("flooder: %d served, %d RATE_LIMITED in %v; want %d to %d served and %d refused (then closed)",
			served, limited, elapsed, s.lim.RequestBurst, most, soakMaxProtocolErrors)
	}
}

// soakMonitor samples the goroutine count and the heap every 50 ms.
type soakMonitor struct {
	quit, done chan struct{}
	once       sync.Once
	peakG      int
	peakHeap   uint64
}

func startSoakMonitor() *soakMonitor {
	m := &soakMonitor{quit: make(chan struct{}), done: make(chan struct{})}
	go func() { // stopped by stop
		defer close(m.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			m.peakG = max(m.peakG, runtime.NumGoroutine())
			runtime.ReadMemStats(&ms)
			m.peakHeap = max(m.peakHeap, ms.HeapInuse)
			select {
			case <-m.quit:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

// stop stops sampling and returns the peaks; it may be called again.
func (m *soakMonitor) stop() (int, uint64) {
	m.once.Do(func() { close(m.quit) })
	<-m.done
	return m.peakG, m.peakHeap
}

// soakSettle waits up to 5 s for the goroutine count to come back to
// baseline (with a little slack for the runtime's own), and returns it.
func soakSettle(baseline int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline+2 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type soakFigures struct {
	baseline, final, peakG int
	peakHeap               uint64
	traffic, elapsed       time.Duration
}

// report logs the figures and fails the test on what they show wrong.
func (s *soak) report(t *testing.T, f soakFigures) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.wellErrs {
		t.Errorf("well-behaved: %s", e)
	}
	for _, e := range s.otherErrs {
		t.Errorf("hostile: %s", e)
	}
	codes := sortedCounts(s.codes)
	kinds := sortedCounts(s.kinds)
	lines := []string{
		fmt.Sprintf("well-behaved: %d devices × %d requests × %d rounds = %d planned; %d sent, %d answered (%d INTERNAL from the flaky service), %d lost to %d cuts",
			s.cfg.devices, s.cfg.requests, s.cfg.rounds, s.planned.Load(), s.sent.Load(), s.answered.Load(), s.internal.Load(), s.lost.Load(), s.cuts.Load()),
		fmt.Sprintf("well-behaved: %d connections, %d goodbyes, %d errors, %d RATE_LIMITED", s.wellConns.Load(), s.goodbyes.Load(), s.nWell, s.wellRateLimited.Load()),
		fmt.Sprintf("hostile: %d frames sent (%s) on %d connections, %d closed by the server (%d to %d refusals before the close); %d captures",
			s.hostileSent.Load(), kinds, s.hostileConns.Load(), s.hostileClosed.Load(), s.minRefusals, s.maxRefusals, s.captures.Load()),
		fmt.Sprintf("hostile: %d got their code (%s), %d CONNECTION_REJECTED as the session ended, %d unanswered after the close; %d wrong",
			s.hostileExact.Load(), codes, s.hostileEnding.Load(), s.hostileAfterClose.Load(), s.nOther),
		fmt.Sprintf("flood: %d floods, %d heartbeats served, %d RATE_LIMITED, each then closed 1008", s.floods.Load(), s.floodServed.Load(), s.floodLimited.Load()),
		fmt.Sprintf("goroutines: %d before, %d peak, %d after; peak heap in use %.1f MiB", f.baseline, f.peakG, f.final, float64(f.peakHeap)/(1<<20)),
		fmt.Sprintf("elapsed: %v (traffic %v)", f.elapsed.Round(time.Millisecond), f.traffic.Round(time.Millisecond)),
	}
	for _, l := range lines {
		t.Log(l)
	}
	if s.cfg.long {
		t.Logf("\n==================== soak summary ====================\n%s\n======================================================",
			strings.Join(lines, "\n"))
	}

	if s.nWell > 0 {
		t.Errorf("%d errors seen by well-behaved devices", s.nWell)
	}
	if s.nOther > 0 {
		t.Errorf("%d wrong answers to hostile devices or the flooder", s.nOther)
	}
	if n := s.wellRateLimited.Load(); n > 0 {
		t.Errorf("well-behaved devices got RATE_LIMITED %d times", n)
	}
	if s.sent.Load() != s.planned.Load() || s.answered.Load()+s.lost.Load() != s.sent.Load() {
		t.Errorf("%d planned, %d sent, %d answered + %d lost", s.planned.Load(), s.sent.Load(), s.answered.Load(), s.lost.Load())
	}
	if got := s.hostileExact.Load() + s.hostileEnding.Load() + s.hostileAfterClose.Load(); got != s.hostileSent.Load() {
		t.Errorf("hostile: %d sent, %d accounted for", s.hostileSent.Load(), got)
	}
	if s.cuts.Load() == 0 || s.hostileClosed.Load() == 0 || s.floodLimited.Load() == 0 || len(s.kinds) != 5 {
		t.Errorf("the run did not exercise everything: %d cuts, %d hostile connections closed, %d RATE_LIMITED in floods, kinds %s",
			s.cuts.Load(), s.hostileClosed.Load(), s.floodLimited.Load(), kinds)
	}
}

func sortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
