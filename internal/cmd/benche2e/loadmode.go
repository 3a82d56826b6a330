package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/ratatoskr-proto/ratatoskr/internal/procfs"
	"io"
	"math"
	"runtime"
	"time"
)

// verifyTime is the wall time of each round's bare Verify loop.
const verifyTime = 500 * time.Millisecond

// maxWarmup bounds the unmeasured run each load gets before the rounds.
const maxWarmup = time.Second

// load is traffic driven on one server.
type load interface {
	// run drives the server until deadline, waits for the requests
	// outstanding, and returns those answered and those the server refused.
	run(ctx context.Context, deadline time.Time) (completed, failed int, err error)
	// close ends the load's connections.
	close()
}

// loadResult is one server's turn in one round.
type loadResult struct {
	completed, failed int
	elapsed           time.Duration // from the first request to the last answer
	cpu               time.Duration // the server's CPU time over elapsed
}

// cpuPerRequest returns the server's CPU microseconds per request
// completed, NaN when none was.
func (r loadResult) cpuPerRequest() float64 {
	return ratio(float64(r.cpu)/float64(time.Microsecond), float64(r.completed))
}

// throughput returns the requests completed per second of wall time.
func (r loadResult) throughput() float64 {
	return ratio(float64(r.completed), r.elapsed.Seconds())
}

// measureLoad runs l against srv for d and reads srv's CPU time before and
// after.
func measureLoad(ctx context.Context, srv *server, l load, d time.Duration) (loadResult, error) {
	before, err := procfs.ProcessCPU(srv.pid())
	if err != nil {
		return loadResult{}, err
	}
	start := time.Now()
	completed, failed, err := l.run(ctx, start.Add(d))
	elapsed := time.Since(start)
	if err != nil {
		return loadResult{}, fmt.Errorf("%s: %w", srv.name, err)
	}
	after, err := procfs.ProcessCPU(srv.pid())
	if err != nil {
		return loadResult{}, err
	}
	return loadResult{completed: completed, failed: failed, elapsed: elapsed, cpu: after - before}, nil
}

// runLoad runs the load mode: both servers, both loads, cfg.rounds rounds
// with alternating order and a Verify loop each, printing a row per
// measurement and then the summary.
func runLoad(ctx context.Context, cfg config, l *launcher, out io.Writer) error {
	payload := bytes.Repeat([]byte{0xa5}, cfg.payload)
	servers := map[string]*server{}
	loads := map[string]load{}
	// Loads close before their servers stop (defers run last first).
	for _, kind := range []string{kindEcho, kindRatatoskr} {
		srv, err := l.start(ctx, kind)
		if err != nil {
			return err
		}
		defer srv.stop()
		servers[kind] = srv
	}
	el, err := newEchoLoad(ctx, "ws://"+servers[kindEcho].addr+"/", cfg.conns, cfg.inflight, payload)
	if err != nil {
		return err
	}
	defer el.close()
	loads[kindEcho] = el
	rl, err := newRatatoskrLoad(ctx, "ws://"+servers[kindRatatoskr].addr+"/ratatoskr", []byte(l.secret), cfg.conns, cfg.inflight, payload)
	if err != nil {
		return err
	}
	defer rl.close()
	loads[kindRatatoskr] = rl

	fmt.Fprintf(out, "benche2e load: %d conns x %d in flight, %d-byte payloads, %v per server per round, %d rounds\n",
		cfg.conns, cfg.inflight, cfg.payload, cfg.duration, cfg.rounds)
	fmt.Fprintf(out, "%s %s/%s, %d CPUs; server CPU = utime+stime from /proc/PID/stat (10 ms ticks)\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())

	warm := min(cfg.duration, maxWarmup)
	for _, kind := range []string{kindEcho, kindRatatoskr} {
		if _, _, err := loads[kind].run(ctx, time.Now().Add(warm)); err != nil {
			return fmt.Errorf("warming up %s: %w", kind, err)
		}
	}

	var rows []loadRound
	fmt.Fprintf(out, "%-5s  %-9s  %9s  %7s  %9s  %10s  %10s\n", "round", "server", "requests", "refused", "req/s", "server CPU", "CPU us/req")
	for round := 1; round <= cfg.rounds; round++ {
		r := loadRound{round: round, results: map[string]loadResult{}}
		order := []string{kindEcho, kindRatatoskr}
		if round%2 == 0 {
			order[0], order[1] = order[1], order[0]
		}
		for _, kind := range order {
			res, err := measureLoad(ctx, servers[kind], loads[kind], cfg.duration)
			if err != nil {
				return fmt.Errorf("round %d: %w", round, err)
			}
			r.results[kind] = res
			fmt.Fprintf(out, "%-5d  %-9s  %9d  %7d  %9.0f  %9.2fs  %10.1f\n",
				round, kind, res.completed, res.failed, res.throughput(), res.cpu.Seconds(), res.cpuPerRequest())
		}
		if r.verify, err = verifyCost(verifyTime); err != nil {
			return err
		}
		fmt.Fprintf(out, "%-5d  %-9s  %9s  %7s  %9s  %10s  %10.1f  (bench thread CPU per ed25519.Verify)\n",
			round, "Verify", "", "", "", "", r.verifyMicros())
		rows = append(rows, r)
	}
	for _, kind := range []string{kindEcho, kindRatatoskr} {
		if err := servers[kind].alive(); err != nil {
			return err
		}
	}
	printLoadSummary(out, rows)
	return nil
}

// loadRound is one round of the load mode: each server's turn and the
// bare Verify cost.
type loadRound struct {
	round   int
	results map[string]loadResult // by kind
	verify  time.Duration
}

// verifyMicros returns the round's Verify cost in microseconds.
func (r loadRound) verifyMicros() float64 { return float64(r.verify) / float64(time.Microsecond) }

// overhead returns (ratatoskr CPU/request - Verify) / echo CPU/message.
func (r loadRound) overhead() float64 {
	return ratio(r.results[kindRatatoskr].cpuPerRequest()-r.verifyMicros(), r.results[kindEcho].cpuPerRequest())
}

// moonshot returns ratatoskr CPU/request / (Verify + echo CPU/message).
func (r loadRound) moonshot() float64 {
	return ratio(r.results[kindRatatoskr].cpuPerRequest(), r.verifyMicros()+r.results[kindEcho].cpuPerRequest())
}

// throughputRatio returns ratatoskr's client-observed throughput over echo's.
func (r loadRound) throughputRatio() float64 {
	return ratio(r.results[kindRatatoskr].throughput(), r.results[kindEcho].throughput())
}

// printLoadSummary prints the medians over rows and one line per ratio.
func printLoadSummary(out io.Writer, rows []loadRound) {
	col := func(f func(loadRound) float64) float64 {
		xs := make([]float64, len(rows))
		for i, r := range rows {
			xs[i] = f(r)
		}
		return median(xs)
	}
	cpu := func(kind string) func(loadRound) float64 {
		return func(r loadRound) float64 { return r.results[kind].cpuPerRequest() }
	}
	tput := func(kind string) func(loadRound) float64 {
		return func(r loadRound) float64 { return r.results[kind].throughput() }
	}
	refused := 0
	for _, r := range rows {
		refused += r.results[kindRatatoskr].failed
	}

	fmt.Fprintf(out, "\nmedians over %d rounds\n", len(rows))
	fmt.Fprintf(out, "  echo       server CPU %7.1f us/message   client %8.0f req/s\n", col(cpu(kindEcho)), col(tput(kindEcho)))
	fmt.Fprintf(out, "  ratatoskr  server CPU %7.1f us/request   client %8.0f req/s\n", col(cpu(kindRatatoskr)), col(tput(kindRatatoskr)))
	fmt.Fprintf(out, "  Verify     bare       %7.1f us/Verify (one goroutine)\n", col(loadRound.verifyMicros))
	if refused > 0 {
		fmt.Fprintf(out, "  WARNING: the Ratatoskr server refused %d requests (see its log); they are not counted\n", refused)
	}
	fmt.Fprintf(out, "\nratios (median of per-round ratios)\n")
	fmt.Fprintf(out, "overhead   (ratatoskr - Verify) / echo  = %5.2f  target <= 1.5: %s\n", col(loadRound.overhead), verdict(col(loadRound.overhead), 1.5, true))
	fmt.Fprintf(out, "moonshot   ratatoskr / (Verify + echo)  = %5.2f  moonshot < 1:  %s\n", col(loadRound.moonshot), verdict(col(loadRound.moonshot), 1, false))
	fmt.Fprintf(out, "throughput ratatoskr / echo (client)    = %5.2f  (requests/s as the client saw them)\n", col(loadRound.throughputRatio))
}

// verdict says whether x meets a bound: x <= bound when inclusive, else x < bound.
func verdict(x, bound float64, inclusive bool) string {
	switch {
	case math.IsNaN(x):
		return "no data"
	case x < bound || inclusive && x == bound:
		return "met"
	}
	return "not met"
}
