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
// waits. http.Server.Shutdown does not wait for hijacked connections, so
// wire both:
//
//	srv.RegisterOnShutdown(func() { h.Shutdown(ctx) })
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	first := !h.draining
	if first {
		h.draining = true
		h.shutdownCtx = ctx
		// Refuse new requests on every connection now; each supervisor then
		// drains and says goodbye.
		for c := range h.conns {
			c.markClosing(envelope.CodeServerShutdown)
		}
		close(h.shutdown)
	}
	h.mu.Unlock()
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
		wg.Go(func() {
			c.cancel()
			c.ws.CloseNow()
		})
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

// shutdownContext is the drain context of sessions ending for Shutdown:
// in-flight requests may run until Shutdown's own context ends.
func (h *Handler) shutdownContext() (context.Context, context.CancelFunc) {
	h.mu.Lock()
	ctx := h.shutdownCtx
	h.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithCancel(ctx)
}
