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
//
// Each connection starts with a signed CONNECTION_REQUEST carrying the
// device's JWT; the handler verifies the token, then every request's
// schema, timestamp, identity, Ed25519 signature and nonce (in that order,
// see envelope.Validator), and answers each with its request_id and, on
// failure, a stable error code (envelope.Code). Per-request errors leave
// the connection usable.
//
// Per connection there is one writer goroutine, a bounded outgoing queue,
// and at most Options.MaxInFlight business requests served concurrently;
// a peer that does not read within Options.WriteTimeout is dropped, and
// undecodable or forged frames past Options.MaxProtocolErrors close the
// connection. Sessions end when the token (or Options.MaxSessionDuration)
// expires, when the device sends DISCONNECT, and on Shutdown; in each case
// in-flight requests are answered before the DISCONNECT, unless they run
// past Options.DrainTimeout (Shutdown's context for a shutdown): then their
// contexts are cancelled and they get a brief grace to answer.
//
// Close codes: 1000 after a DISCONNECT (device's or SESSION_EXPIRED), 1001
// on shutdown, 1003 for a text frame, 1008 for a refused or missing
// handshake and repeated protocol errors, 1009 for a frame over four times
// the message size limit.
package ratatoskrhttp
