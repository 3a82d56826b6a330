// Package loadgen is the engine of `ratatoskr bench`: it opens connections
// to a Ratatoskr endpoint, one device each, keeps requests in flight on
// them with requests signed ahead of time, and measures what comes back.
package loadgen

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// ErrConnection is wrapped by Run's error when a connection could not be
// opened, or was lost during the run.
var ErrConnection = errors.New("loadgen: connection failed")

// Defaults of Config.
const (
	DefaultConns    = 16
	DefaultInFlight = 16
	DefaultSize     = 256
	DefaultService  = "echo"
	DefaultTimeout  = 10 * time.Second
)

// Config describes a run. The zero value of each field means its default.
type Config struct {
	// URL is the endpoint (ws:// or wss://). Required.
	URL string
	// Device returns the client options (identity, key, token, TLS) of
	// connection i, from 0 to Conns-1. Required; see HS256Devices.
	Device func(i int) (client.Options, error)
	// Conns is the number of connections. Defaults to DefaultConns.
	Conns int
	// InFlight is the number of requests awaiting an answer on each
	// connection. Defaults to DefaultInFlight.
	InFlight int
	// Size is the payload size in bytes. Defaults to DefaultSize; negative
	// is an empty payload.
	Size int
	// Duration bounds the measured window; Requests bounds the number of
	// requests. With neither, the run lasts 10 s; with both, it ends at the
	// first bound reached.
	Duration time.Duration
	Requests int64
	// Service is the service called. Defaults to "echo".
	Service string
	// Timeout bounds each request. Defaults to 10 s.
	Timeout time.Duration
	// Buffer is the number of requests signed ahead per connection.
	// Defaults to 4 × InFlight, at least 64.
	Buffer int
	// ServerPID, when positive, is the server process whose CPU time is
	// read (Linux /proc) at both ends of the measured window.
	ServerPID int
	// Progress, when set, is called every ProgressInterval (default 1 s)
	// during the measured window, from one goroutine.
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// Progress is a snapshot of a run in progress.
type Progress struct {
	Elapsed     time.Duration
	Answered    int64   // requests answered so far, refused ones included
	Errors      int64   // of which refused, or failed
	RateLimited int64   // of which RATE_LIMITED
	Rate        float64 // answers per second since the previous snapshot
}

// HS256Devices returns a Config.Device that mints, for each connection, a
// fresh Ed25519 device key and a device token (HS256 with secret, bound to
// the key by "cnf") for user "bench-user-i" and device "bench-device-i".
func HS256Devices(secret []byte, ttl time.Duration) func(i int) (client.Options, error) {
	return func(i int) (client.Options, error) {
		pub, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			return client.Options{}, err
		}
		user, device := fmt.Sprintf("bench-user-%d", i), fmt.Sprintf("bench-device-%d", i)
		token, err := auth.MintHS256(secret, auth.MintOptions{UserID: user, DeviceID: device, DevicePublicKey: pub, TTL: ttl})
		if err != nil {
			return client.Options{}, err
		}
		return client.Options{UserID: user, DeviceID: device, PrivateKey: key, Token: token}, nil
	}
}

func (c Config) withDefaults() (Config, error) {
	if c.URL == "" || c.Device == nil {
		return c, errors.New("loadgen: Config.URL and Config.Device are required")
	}
	if c.Conns <= 0 {
		c.Conns = DefaultConns
	}
	if c.InFlight <= 0 {
		c.InFlight = DefaultInFlight
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	c.Size = max(c.Size, 0)
	if c.Duration <= 0 && c.Requests <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Service == "" {
		c.Service = DefaultService
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Buffer <= 0 {
		c.Buffer = max(4*c.InFlight, 64)
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = time.Second
	}
	return c, nil
}

// conn is one connection of a run and its signer.
type conn struct {
	c    *client.Client
	sign *presigner
}

// counters are shared by the senders.
type counters struct {
	issued      atomic.Int64 // requests taken by senders (bounds Requests)
	answered    atomic.Int64
	failed      atomic.Int64
	rateLimited atomic.Int64
	stalls      atomic.Int64 // a sender found no signed request ready

	mu     sync.Mutex
	codes  map[string]int64
	lat    [][]time.Duration // one slice per sender, merged at the end
	broken []error           // connections lost
}

// Run dials cfg.Conns connections, warms up the signers, then sends for the
// measured window and returns the report. When ctx ends, the run stops
// issuing requests, waits for those in flight, and reports what it
// measured. Requests the server refuses are counted, not errors. Run
// returns an error wrapping ErrConnection when a connection cannot be
// opened (and no report), or is lost during the run (with the report).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	clients, err := dialAll(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer closeAll(clients)

	payload := make([]byte, cfg.Size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	signCtx, stopSigning := context.WithCancel(context.Background())
	conns := make([]conn, len(clients))
	for i, c := range clients {
		conns[i] = conn{c: c.c, sign: startPresigner(signCtx, c.signer, cfg.Service, payload, cfg.Buffer)}
	}
	defer func() {
		stopSigning()
		for _, c := range conns {
			<-c.sign.done
		}
	}()
	warmUp(ctx, conns)

	var cpu0 time.Duration
	if cfg.ServerPID > 0 {
		if cpu0, err = ProcessCPU(cfg.ServerPID); err != nil {
			return nil, err
		}
	}
	cnt := &counters{codes: map[string]int64{}}
	start := time.Now()
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	stopProgress := startProgress(cfg, cnt, start)
	var wg sync.WaitGroup
	for _, c := range conns {
		for range cfg.InFlight {
			lat := make([]time.Duration, 0, 1024)
			wg.Go(func() { // owned by Run, which waits; ends at the deadline, the count, ctx, or the connection's end
				lat = sender(ctx, cfg, c, cnt, deadline, lat)
				cnt.mu.Lock()
				cnt.lat = append(cnt.lat, lat)
				cnt.mu.Unlock()
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	rep := &Report{
		URL: cfg.URL, Service: cfg.Service, Connections: cfg.Conns, InFlight: cfg.InFlight, PayloadSize: cfg.Size,
		ElapsedSeconds: elapsed.Seconds(),
		Requests:       cnt.answered.Load(),
		Errors:         cnt.codes,
		RateLimited:    cnt.rateLimited.Load(),
	}
	rep.OK = rep.Requests - cnt.failed.Load()
	rep.Throughput = float64(rep.Requests) / elapsed.Seconds()
	rep.OKThroughput = float64(rep.OK) / elapsed.Seconds()
	rep.Latency = latencies(cnt.lat)
	if cfg.ServerPID > 0 {
		cpu1, err := ProcessCPU(cfg.ServerPID)
		if err != nil {
			return nil, err
		}
		rep.Server = serverReport(cfg.ServerPID, cpu1-cpu0, rep.Requests)
	}
	stopSigning()
	var signErr error
	for _, c := range conns {
		<-c.sign.done
		rep.Signing.add(c.sign)
		signErr = errors.Join(signErr, c.sign.err)
	}
	rep.Signing.finish(cnt.stalls.Load(), elapsed)
	if signErr != nil {
		return rep, fmt.Errorf("loadgen: signing: %w", signErr)
	}
	if len(cnt.broken) > 0 {
		return rep, fmt.Errorf("%w: %d connection(s) lost during the run: %w", ErrConnection, len(cnt.broken), cnt.broken[0])
	}
	return rep, nil
}

// sender sends the requests signed for c, one at a time, until the run
// ends, and returns the latencies of the successful ones appended to lat.
func sender(ctx context.Context, cfg Config, c conn, cnt *counters, deadline time.Time, lat []time.Duration) []time.Duration {
	sendCtx := context.WithoutCancel(ctx) // ctx stops issuing; requests in flight finish
	for ctx.Err() == nil {
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return lat
		}
		if cfg.Requests > 0 && cnt.issued.Add(1) > cfg.Requests {
			return lat
		}
		var req = tryRecv(c.sign)
		if req == nil {
			cnt.stalls.Add(1)
			var ok bool
			if req, ok = <-c.sign.out; !ok {
				return lat // signing failed; Run reports it
			}
		}
		rctx, cancel := context.WithTimeout(sendCtx, cfg.Timeout)
		t0 := time.Now()
		resp, err := c.c.Send(rctx, req)
		d := time.Since(t0)
		cancel()
		if err != nil {
			cnt.answered.Add(1)
			cnt.failed.Add(1)
			cnt.count(string(envelope.CodeOf(err)))
			select {
			case <-c.c.Done():
				cnt.mu.Lock()
				if len(cnt.broken) == 0 || cnt.broken[len(cnt.broken)-1] != c.c.Err() {
					cnt.broken = append(cnt.broken, c.c.Err())
				}
				cnt.mu.Unlock()
				return lat
			default:
			}
			continue
		}
		cnt.answered.Add(1)
		if rerr := envelope.ResponseError(resp); rerr != nil {
			code := envelope.CodeOf(rerr)
			cnt.failed.Add(1)
			if code == envelope.CodeRateLimited {
				cnt.rateLimited.Add(1)
			}
			cnt.count(string(code))
			continue
		}
		lat = append(lat, d)
	}
	return lat
}

func tryRecv(p *presigner) (req *pb.RatatoskrRequest) {
	select {
	case req = <-p.out:
	default:
	}
	return req
}

func (c *counters) count(code string) {
	if code == "" {
		code = "UNKNOWN"
	}
	c.mu.Lock()
	c.codes[code]++
	c.mu.Unlock()
}

// warmUp waits, at most 2 s, until every signer has filled its buffer, so
// that the measured window starts with requests ready.
func warmUp(ctx context.Context, conns []conn) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	limit := time.After(2 * time.Second)
	for {
		full := true
		for _, c := range conns {
			full = full && c.sign.full()
		}
		if full {
			return
		}
		select {
		case <-t.C:
		case <-limit:
			return
		case <-ctx.Done():
			return
		}
	}
}

// startProgress calls cfg.Progress every interval until the returned stop
// is called; stop waits for the goroutine.
func startProgress(cfg Config, cnt *counters, start time.Time) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() { // owned by Run: stopped by stop, which waits for it
		defer close(done)
		t := time.NewTicker(cfg.ProgressInterval)
		defer t.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				n := cnt.answered.Load()
				cfg.Progress(Progress{
					Elapsed: now.Sub(start), Answered: n, Errors: cnt.failed.Load(), RateLimited: cnt.rateLimited.Load(),
					Rate: float64(n-last) / now.Sub(lastAt).Seconds(),
				})
				last, lastAt = n, now
			}
		}
	}()
	return func() { close(quit); <-done }
}
