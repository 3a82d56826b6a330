// Package ratatoskrhttp serves Ratatoskr, signed and replay-proof business
// requests over WebSocket, as a plain net/http handler.
//
// Mount the Handler where your router already serves REST, and register
// services by the name devices put in metadata["service"]:
//
//	a, _ := auth.NewJWT(auth.WithHMACSecret(secret))
//	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: a})
//	h.Use(ratatoskrhttp.Recoverer(nil))
//	h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
//		return &ratatoskrhttp.Response{Payload: r.Payload}, nil
//	})
//	router := chi.NewRouter()
//	router.Mount("/ratatoskr", h)
//	srv := &http.Server{Addr: addr, Handler: router}
//
// Stop it with ShutdownServer when the process is told to stop (see its
// example), and exit only after it returns. http.Server.Shutdown alone (or with a
// RegisterOnShutdown hook, which it does not wait for) lets the process
// exit before the sessions get their DISCONNECT:
//
//	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
//	defer cancel()
//	err := ratatoskrhttp.ShutdownServer(shutdownCtx, srv, h) // REST requests finish, sessions say goodbye
//
// Each connection starts with a signed CONNECTION_REQUEST carrying the
// device's JWT; the handler verifies the token, then every request's
// schema, timestamp, identity, Ed25519 signature and nonce (in that order,
// see envelope.Validator), and answers each with its request_id and, on
// failure, a stable error code (envelope.Code). Per-request errors leave
// the connection usable.
//
// ServeHTTP returns once the connection is upgraded; the connection is
// served on a goroutine of its own (Shutdown waits for it). An idle
// connection costs that one goroutine, its read loop, on a small stack
// of its own. Business requests are served by per-connection workers that
// exist while there is work (at most Options.MaxInFlight requests at once,
// past which requests get RATE_LIMITED), answers pending together are
// written with one system call, and timers (handshake, expiry, request
// deadlines, pings) are callbacks, not goroutines. Token checks run on a
// goroutine of their own, bounded by the handshake timeout. A peer that
// does not read within Options.WriteTimeout is dropped, and a burst of
// refused frames (Options.MaxProtocolErrors) closes the connection.
//
// Limits are on by default (see Options): a per-device request rate across
// the device's connections, sessions per device (the newest displaces the
// oldest with SESSION_REPLACED), a connection cap, per-address caps on
// connections waiting for their handshake and on the upgrade rate, and a
// small read limit before the handshake. Handler.Disconnect is the
// operator's kill switch; Options.Revoked keeps revoked devices out.
//
// A connection is handshaking, open, draining or closed. Sessions end when
// the token (or Options.MaxSessionDuration) expires, when the device sends
// DISCONNECT, and on Shutdown: the session drains (new requests get the
// ending's code: SESSION_EXPIRED, HANDSHAKE_REQUIRED after the device's
// DISCONNECT, SERVER_SHUTDOWN), in-flight requests are answered, then the
// DISCONNECT and the close frame follow. When Options.DrainTimeout
// (Shutdown's context for a shutdown) runs out first, the services still
// running see their contexts cancelled and get a brief grace; whatever is
// still unanswered is then answered UNAVAILABLE by the server. Every
// request read before the close frame is sent gets an answer.
//
// Close codes: 1000 after a DISCONNECT (device's or SESSION_EXPIRED), 1001
// on shutdown, 1003 for a text frame, 1008 for a refused or missing
// handshake and repeated protocol errors, 1009 for a frame over four times
// the message size limit.
package ratatoskrhttp
