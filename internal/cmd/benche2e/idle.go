package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/ratatoskr-proto/ratatoskr/internal/procfs"
	"io"
	"sync"
	"time"
)

// Idle mode constants.
const (
	idleWarmConns = 8  // connections opened and closed before the first reading
	idleDialers   = 16 // concurrent dials while opening the idle connections
)

// idleResult is one server's turn in one idle round.
type idleResult struct {
	conns         int
	before, after int64 // VmRSS, KiB
}

// kibPerConn returns the server's resident memory per idle connection.
func (r idleResult) kibPerConn() float64 {
	return ratio(float64(r.after-r.before), float64(r.conns))
}

// opener opens connection number i to a server and returns its closer.
type opener func(ctx context.Context, i int) (closer func(), err error)

// openerFor returns the function that opens an idle connection to srv of
// the given kind: a bare WebSocket for echo; for Ratatoskr, a device
// dialled and authenticated by client.Dial, with automatic heartbeats off.
// With warm, the connection also makes one request first, so that the
// server's code paths for requests are paged in.
func openerFor(l *launcher, srv *server, kind string, warm bool) opener {
	if kind == kindEcho {
		url := "ws://" + srv.addr + "/"
		return func(ctx context.Context, _ int) (func(), error) {
			c, err := dialEcho(ctx, url, 1)
			if err != nil {
				return nil, err
			}
			if warm {
				if err := c.once(ctx, []byte("warm")); err != nil {
					c.close()
					return nil, err
				}
			}
			return c.close, nil
		}
	}
	url := "ws://" + srv.addr + "/ratatoskr"
	return func(ctx context.Context, i int) (func(), error) {
		c, err := dialRatatoskr(ctx, url, []byte(l.secret), i, 1)
		if err != nil {
			return nil, err
		}
		if warm {
			cctx, cancel := context.WithTimeout(ctx, requestTimeout)
			_, err := c.Call(cctx, echoService, []byte("warm"))
			cancel()
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("warm-up call: %w", err)
			}
		}
		return func() { c.Close() }, nil
	}
}

// openAll opens n connections with idleDialers at a time and returns their
// closers; on error it closes those it opened.
func openAll(ctx context.Context, open opener, first, n int) ([]func(), error) {
	closers := make([]func(), n)
	errs := make([]error, n)
	sem := make(chan struct{}, idleDialers)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() { // owned by openAll, which waits; each dial is bounded by dialTimeout
			defer func() { <-sem }()
			closers[i], errs[i] = open(ctx, first+i)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(closers)
		return nil, err
	}
	return closers, nil
}

// closeAll calls every non-nil closer, a few at a time, and waits.
func closeAll(closers []func()) {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, c := range closers {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() { // owned by closeAll, which waits; closers are bounded
			defer func() { <-sem }()
			c()
		})
	}
	wg.Wait()
}

// measureIdle starts a fresh server of the given kind, warms it with a
// few connections, and reads its VmRSS before and after opening n idle
// connections, settle after each step.
func measureIdle(ctx context.Context, l *launcher, kind string, n int, settle time.Duration) (idleResult, error) {
	srv, err := l.start(ctx, kind)
	if err != nil {
		return idleResult{}, err
	}
	defer srv.kill() // idempotent; the connections are dropped with it

	warm, err := openAll(ctx, openerFor(l, srv, kind, true), 0, idleWarmConns)
	if err != nil {
		return idleResult{}, fmt.Errorf("%s: warming up: %w", kind, err)
	}
	closeAll(warm)
	if err := sleep(ctx, settle); err != nil {
		return idleResult{}, err
	}
	before, err := procfs.ProcessRSSKiB(srv.pid())
	if err != nil {
		return idleResult{}, err
	}
	conns, err := openAll(ctx, openerFor(l, srv, kind, false), idleWarmConns, n)
	if err != nil {
		return idleResult{}, fmt.Errorf("%s: opening %d idle connections: %w", kind, n, err)
	}
	// Killing the server first makes every client's Close immediate.
	defer closeAll(conns)
	defer srv.kill()
	if err := sleep(ctx, settle); err != nil {
		return idleResult{}, err
	}
	after, err := procfs.ProcessRSSKiB(srv.pid())
	if err != nil {
		return idleResult{}, err
	}
	if err := srv.alive(); err != nil {
		return idleResult{}, err
	}
	return idleResult{conns: n, before: before, after: after}, nil
}

// runIdle runs the idle mode: cfg.rounds rounds, each with a fresh server
// of each kind in alternating order, printing a row per measurement and
// then the summary.
func runIdle(ctx context.Context, cfg config, l *launcher, out io.Writer) error {
	fmt.Fprintf(out, "benche2e idle: %d idle connections per server, %v settle before each reading, %d rounds, fresh servers each round\n",
		cfg.idleConns, cfg.settle, cfg.rounds)
	fmt.Fprintf(out, "server memory = VmRSS from /proc/PID/status\n\n")
	fmt.Fprintf(out, "%-5s  %-9s  %6s  %14s  %13s  %9s\n", "round", "server", "conns", "RSS before KiB", "RSS after KiB", "KiB/conn")
	var ratios []float64
	perConn := map[string][]float64{}
	for round := 1; round <= cfg.rounds; round++ {
		order := []string{kindEcho, kindRatatoskr}
		if round%2 == 0 {
			order[0], order[1] = order[1], order[0]
		}
		results := map[string]idleResult{}
		for _, kind := range order {
			res, err := measureIdle(ctx, l, kind, cfg.idleConns, cfg.settle)
			if err != nil {
				return fmt.Errorf("round %d: %w", round, err)
			}
			results[kind] = res
			perConn[kind] = append(perConn[kind], res.kibPerConn())
			fmt.Fprintf(out, "%-5d  %-9s  %6d  %14d  %13d  %9.2f\n", round, kind, res.conns, res.before, res.after, res.kibPerConn())
		}
		ratios = append(ratios, ratio(results[kindRatatoskr].kibPerConn(), results[kindEcho].kibPerConn()))
	}
	r := median(ratios)
	fmt.Fprintf(out, "\nmedians over %d rounds\n", cfg.rounds)
	fmt.Fprintf(out, "  echo       %7.2f KiB per idle connection\n", median(perConn[kindEcho]))
	fmt.Fprintf(out, "  ratatoskr  %7.2f KiB per idle connection (authenticated session)\n", median(perConn[kindRatatoskr]))
	fmt.Fprintf(out, "\nratio (median of per-round ratios)\n")
	fmt.Fprintf(out, "idle memory ratatoskr / echo = %5.2f  target <= 1.15: %s\n", r, verdict(r, 1.15, true))
	return nil
}
