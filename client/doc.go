// Package client is the device side of Ratatoskr: it dials a server,
// performs the signed handshake, and carries signed business requests over
// one WebSocket connection, many at a time, matching answers to calls by
// request_id.
//
//	c, err := client.Dial(ctx, "wss://api.example.com/ratatoskr", &client.Options{
//		DeviceID:   deviceID,
//		UserID:     userID,
//		PrivateKey: deviceKey, // ed25519.PrivateKey
//		Token:      deviceJWT,
//	})
//	if err != nil {
//		return err // envelope.CodeOf(err) gives e.g. AUTH_FAILED; see Retryable
//	}
//	defer c.Close()
//	resp, err := c.Call(ctx, "echo", []byte("hello"))
//	if client.Retryable(err) {
//		// UNAVAILABLE, RATE_LIMITED, SERVER_SHUTDOWN...: a fresh call,
//		// later or on a new connection, may succeed.
//	}
//
// Every request, heartbeats and disconnects included, is signed with the
// device key: with signature v2, which covers every field, when the server
// offers it (subprotocol "ratatoskr.v2"), and otherwise with v1, which
// covers neither the message type nor the metadata (so neither the service
// name). Always dial wss:// in production. With Options.ServerKeys the
// client also verifies that every answer is signed by the server, for the
// request it answers (see Scheme and ErrResponseSignature).
//
// The server announces the session's limits in the handshake (Limits): how
// many business requests it serves at once, and its request rate and
// burst. The client holds its own requests to them instead of provoking
// RATE_LIMITED: Call waits for an in-flight slot and for the rate, Heartbeat
// and Renew for the rate, each within its context (see Call and
// Options.MaxInFlight). Send and SendRaw, which exist to send anything,
// never wait.
//
// With Options.TokenSource, the client renews the session on the live
// connection before it expires, with a fresh token, without interrupting
// calls in flight (Options.RenewBefore: by default a tenth of the session's
// lifetime before expires_at, at most 5 minutes); a failed renewal is
// logged and tried again a few times while the session lasts.
//
// With Options.Reconnect, the client survives the end of its connection:
// it dials the same URL again with jittered exponential backoff and a
// fresh handshake (a token from TokenSource), and the Client stays valid,
// its methods using the new connection. OnState reports the states
// (connecting, connected, disconnected with the reason); calls made
// meanwhile fail at once with ErrDisconnected, or wait for the new
// connection (WaitForConnection). Calls in flight when a connection ends
// fail with a retryable error and are not sent again. A server DISCONNECT,
// or a refused handshake, whose code says the device must not come back
// (AUTH_FAILED for a revoked device, IDENTITY_MISMATCH, SIGNATURE_INVALID,
// SESSION_REPLACED) ends the client for good:
//
//	o.Reconnect = &client.ReconnectOptions{
//		WaitForConnection: true,
//		OnState: func(s client.State, err error) {
//			log.Printf("ratatoskr: %v %v", s, err) // must not block
//		},
//	}
//
// Close, or CloseContext to bound it by a context, says goodbye with a
// signed DISCONNECT and waits for the server's answer, then drops the
// connection; it also stops reconnecting. No goroutine of the client
// outlives it.
//
// # Errors
//
// Every error carries a code (envelope.CodeOf), and Retryable says whether
// sending the request again, as a fresh request, may succeed; whether that
// is safe (a call that timed out may have been served) is the
// application's choice.
//
//   - The server's refusals are *envelope.Error values carrying its code
//     and message: AUTH_FAILED, UNKNOWN_SERVICE, an application's own
//     code... Of these only UNAVAILABLE, RATE_LIMITED, SERVER_SHUTDOWN,
//     SESSION_EXPIRED and HANDSHAKE_REQUIRED are retryable.
//   - A call whose context ends first fails with UNAVAILABLE wrapping
//     ctx.Err(), so errors.Is(err, context.DeadlineExceeded) holds: a
//     timeout is retryable, a cancelled call is not (the caller gave up).
//   - When the connection ends, every call in flight and every later call
//     fails with an error wrapping ErrClosed (UNAVAILABLE). When the server
//     ended it with a DISCONNECT, the error carries the server's code
//     instead (SERVER_SHUTDOWN, SESSION_EXPIRED: retryable on a new
//     connection; AUTH_FAILED for a revoked device, SESSION_REPLACED: not).
//     A dropped connection is retryable on a new connection; ErrClosed
//     after Close is not. Done and Err report the end. With
//     Options.Reconnect, calls made while the client reconnects fail
//     with ErrDisconnected (UNAVAILABLE, retryable), and Done and Err
//     report only the client's end for good.
//   - Dial fails with UNAVAILABLE when the server cannot be reached, is
//     shutting down or full (HTTP 503), or does not answer before ctx
//     ends; with RATE_LIMITED on HTTP 429; with CONNECTION_REJECTED on any
//     other refused upgrade; and with the server's code when it refuses
//     the handshake.
//   - A response not signed by the server's key (Options.ServerKeys)
//     fails with ErrResponseSignature (SIGNATURE_INVALID). Errors the
//     client cannot classify, invalid Options for one, are INTERNAL.
package client
