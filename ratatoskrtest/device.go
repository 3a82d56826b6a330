package ratatoskrtest

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// dialTimeout bounds a dial and its handshake.
const dialTimeout = 5 * time.Second

// Device is a test device of a Server: an identity, an Ed25519 key and a
// token. Change its fields before the first Dial or Raw (say, Token for an
// expired one, or Signer.Scheme); then its methods may be called from the
// test's goroutine, each connection belonging to the test given.
type Device struct {
	// UserID and DeviceID identify the device; they match its token.
	UserID, DeviceID string
	// Key is the device's private key; Public its public half, which
	// Token binds.
	Key    ed25519.PrivateKey
	Public ed25519.PublicKey
	// Token is the device token Dial and Raw's Handshake present, valid
	// for an hour.
	Token string
	// Signer signs the device's requests with Key, for raw connections.
	Signer *envelope.Signer

	server *Server
}

// Device returns a new device of the server for user and device, with a
// fresh Ed25519 key and a token valid for an hour. It panics when user or
// device is empty.
func (s *Server) Device(user, device string) *Device {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic("ratatoskrtest: " + err.Error())
	}
	return &Device{
		UserID:   user,
		DeviceID: device,
		Key:      key,
		Public:   pub,
		Token:    s.Token(user, device, pub, time.Hour),
		Signer:   &envelope.Signer{DeviceID: device, UserID: user, Key: key},
		server:   s,
	}
}

// Options returns the client options of the device: its identity, key and
// token. Each call returns a new struct.
func (d *Device) Options() *client.Options {
	return &client.Options{DeviceID: d.DeviceID, UserID: d.UserID, PrivateKey: d.Key, Token: d.Token}
}

// Dial connects a client of the device to the server, with the device's
// Options changed by opts in turn, and closes it at t's cleanup. A failed
// dial or handshake fails the test.
func (d *Device) Dial(t testing.TB, opts ...func(*client.Options)) *client.Client {
	t.Helper()
	o := d.Options()
	for _, f := range opts {
		f(o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	c, err := client.Dial(ctx, d.server.URL, o)
	if err != nil {
		t.Fatalf("ratatoskrtest: dial %s/%s: %v", d.UserID, d.DeviceID, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Raw opens a WebSocket connection of the device to the server, with the
// Ratatoskr subprotocol and no handshake yet, and closes it at t's cleanup.
func (d *Device) Raw(t testing.TB) *RawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, d.server.URL, &websocket.DialOptions{Subprotocols: []string{ratatoskrhttp.Subprotocol}})
	if err != nil {
		t.Fatalf("ratatoskrtest: raw dial: %v", err)
	}
	ws.SetReadLimit(rawReadLimit)
	t.Cleanup(func() { ws.CloseNow() })
	return &RawConn{t: t, d: d, Conn: ws}
}
