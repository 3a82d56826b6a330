package yggdrasil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// Serve serves s on ln (with TLS 1.3 when configured) until ctx ends or
// the listener fails, then shuts down gracefully within the configured
// timeout: no new connections, REST requests finish, and every Ratatoskr
// session answers its in-flight requests, gets a DISCONNECT with
// SERVER_SHUTDOWN and is closed. It returns nil after a clean shutdown.
//
// http.Server.Shutdown does not wait for WebSocket connections (they are
// hijacked), so the server and the Ratatoskr handler are shut down
// together with ratatoskrhttp.ShutdownServer, which waits for both.
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

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	// Closes the listener, waits for REST requests and for every session's
	// DISCONNECT.
	err := ratatoskrhttp.ShutdownServer(shutdownCtx, srv, s.rt)
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
