package yggdrasil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Serve serves s on ln (with TLS 1.3 when configured) until ctx ends or
// the listener fails, then shuts down gracefully within the configured
// timeout: no new connections, REST requests finish, and every Ratatoskr
// session answers its in-flight requests, gets a DISCONNECT with
// SERVER_SHUTDOWN and is closed. It returns nil after a clean shutdown.
//
// http.Server.Shutdown does not wait for WebSocket connections (they are
// hijacked), so the Ratatoskr handler's own Shutdown is wired in through
// RegisterOnShutdown and awaited here.
//
// With the public development secret, Serve refuses a listener that is
// not on a loopback address: anyone who can reach the server could mint
// tokens.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.devSecret && !isLoopback(ln.Addr()) {
		return fmt.Errorf("yggdrasil: refusing to serve on %s with the public development JWT secret: "+
			"set -jwt-secret (or RATATOSKR_JWT_SECRET) or -jwt-public-key, or listen on a loopback address", ln.Addr())
	}
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         s.tls,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// shutdownCtx is set before srv.Shutdown, which starts the hook.
	var shutdownCtx context.Context
	rtDone := make(chan error, 1)
	srv.RegisterOnShutdown(func() { rtDone <- s.rt.Shutdown(shutdownCtx) })

	served := make(chan error, 1)
	go func() { // owned by Serve, which waits for it; ends with srv.Shutdown
		if s.tls != nil {
			served <- srv.ServeTLS(ln, "", "") // certificates come from TLSConfig
		} else {
			served <- srv.Serve(ln)
		}
	}()
	scheme, wsScheme := "http", "ws"
	if s.tls != nil {
		scheme, wsScheme = "https", "wss"
	}
	s.log.Info("serving", "rest", fmt.Sprintf("%s://%s/healthz", scheme, ln.Addr()),
		"ratatoskr", fmt.Sprintf("%s://%s/ratatoskr", wsScheme, ln.Addr()))

	var serveErr error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", "timeout", s.timeout, "sessions", s.rt.Sessions())
	case serveErr = <-served:
		s.log.Error("listener failed, shutting down", "err", serveErr)
		served = nil
	}

	var cancel context.CancelFunc
	shutdownCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx) // closes the listener, waits for REST requests, starts the hook
	if rtErr := <-rtDone; rtErr != nil {
		err = errors.Join(err, fmt.Errorf("ratatoskr sessions: %w", rtErr))
	}
	if served != nil {
		serveErr = <-served
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	if err = errors.Join(serveErr, err); err != nil {
		return fmt.Errorf("yggdrasil: %w", err)
	}
	s.log.Info("shut down cleanly")
	return nil
}

// isLoopback reports whether a is a TCP address on the loopback network.
// An unspecified address (0.0.0.0, ::) listens on every interface, so it
// is not.
func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
