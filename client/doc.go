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
//		return err // errors.As(err, new(*envelope.Error)) gives e.g. AUTH_FAILED
//	}
//	defer c.Close()
//	resp, err := c.Call(ctx, "echo", []byte("hello"))
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
// Errors the server answers with are *envelope.Error values carrying the
// server's code (envelope.CodeOf). When the connection ends, every call in
// flight and every later call fails with an error wrapping ErrClosed; when
// the server ended it with a DISCONNECT (SERVER_SHUTDOWN, SESSION_EXPIRED),
// that error also carries the server's code. Done and Err report the end.
package client
