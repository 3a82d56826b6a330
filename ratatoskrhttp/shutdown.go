package ratatoskrhttp

import (
	"context"
	"sync"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

// Shutdown ends every session gracefully and waits for them: new upgrades
// are refused with 503, each session refuses new requests with
// SERVER_SHUTDOWN, lets its in-flight requests finish and answer, sends a
// DISCONNECT with SERVER_SHUTDOWN and closes with 1001. When ctx ends first,
// the remaining services see their contexts cancelled, the connections are
// cut, and Shutdown returns ctx.Err() without waiting for services that
// ignore their context (a service must return when its context ends; until
// it does, its connection's goroutines remain).
//
// Shutdown is safe to call more than once and concurrently; every call
// waits. http.Server.Shutdown does not wait for hijacked connections, nor
// for hooks registered with RegisterOnShutdown: to stop an http.Server
// that serves h, call ShutdownServer(ctx, srv, h), which runs both and
// waits for both.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	first := !h.draining
	var open []*conn
	if first {
		h.draining = true
		for c := range h.conns {
			open = append(open, c)
		}
	}
	h.mu.Unlock()
	// Every session refuses new requests now, drains until ctx ends and
	// says goodbye.
	for _, c := range open {
		c.beginEnd(shutdownEnding(ctx))
	}
	if first {
		go func() { // ends once every connection has; awaited via h.closed
			h.wg.Wait()
			close(h.closed)
		}()
	}
	select {
	case <-h.closed:
		return nil
	case <-ctx.Done():
	}
	// Out of time: cut what is left.
	h.mu.Lock()
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.cut(ClosedShutdown) })
	}
	wg.Wait()
	// The connections are cut; their goroutines end as soon as the
	// services still running return. Like http.Server.Shutdown, do not wait
	// for services that ignore their context.
	select {
	case <-h.closed:
	case <-time.After(cancelGrace):
	}
	return ctx.Err()
}

// Close ends every session at once and waits for the connections to go:
// in-flight requests are cancelled rather than awaited, and the DISCONNECT
// SERVER_SHUTDOWN is sent only where the connection takes it without
// waiting. New upgrades are refused.
func (h *Handler) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := h.Shutdown(ctx)
	if err == context.Canceled {
		return nil
	}
	return err
}

// shutdownEnding ends a session for Shutdown: new requests get
// SERVER_SHUTDOWN, in-flight requests may run until ctx ends, then a
// DISCONNECT SERVER_SHUTDOWN and the close 1001.
func shutdownEnding(ctx context.Context) ending {
	return ending{code: envelope.CodeServerShutdown, disconnect: true, notice: envelope.CodeServerShutdown,
		status: CloseGoingAway, reason: string(envelope.CodeServerShutdown), until: ctx, why: ClosedShutdown}
}
