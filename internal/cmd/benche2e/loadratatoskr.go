package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

// echoService is the example server's service that answers the payload
// unchanged.
const echoService = "echo"

// dialRatatoskr connects device number i to the Ratatoskr server at url as
// a real device does: a fresh Ed25519 key, a device token binding it minted
// with secret, then client.Dial's signed handshake. Automatic heartbeats
// stay off (HeartbeatInterval zero), so an unused client is idle.
func dialRatatoskr(ctx context.Context, url string, secret []byte, i, inflight int) (*client.Client, error) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	// One device per connection: no per-device limit is shared between them.
	user, device := fmt.Sprintf("bench-user-%d", i), fmt.Sprintf("bench-device-%d", i)
	token, err := auth.MintHS256(secret, auth.MintOptions{UserID: user, DeviceID: device, DevicePublicKey: pub, TTL: 2 * time.Hour})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := client.Dial(ctx, url, &client.Options{
		UserID:       user,
		DeviceID:     device,
		PrivateKey:   key,
		Token:        token,
		MaxInFlight:  inflight,
		CloseTimeout: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("dialling the Ratatoskr server: %w", err)
	}
	return c, nil
}

// ratatoskrLoad is the bench's load on the Ratatoskr server: conns
// devices, each with inflight calls outstanding.
type ratatoskrLoad struct {
	clients  []*client.Client
	inflight int
	payload  []byte
}

// newRatatoskrLoad dials conns devices to the server at url.
func newRatatoskrLoad(ctx context.Context, url string, secret []byte, conns, inflight int, payload []byte) (*ratatoskrLoad, error) {
	l := &ratatoskrLoad{inflight: inflight, payload: payload}
	for i := range conns {
		c, err := dialRatatoskr(ctx, url, secret, i, inflight)
		if err != nil {
			l.close()
			return nil, err
		}
		l.clients = append(l.clients, c)
	}
	return l, nil
}

// run has inflight goroutines per client call echo back to back until
// deadline, and returns the calls answered with the payload (completed)
// and those refused by the server (failed, for instance RATE_LIMITED or
// UNAVAILABLE). A lost connection or a wrong answer is an error.
func (l *ratatoskrLoad) run(ctx context.Context, deadline time.Time) (completed, failed int, err error) {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, c := range l.clients {
		for range l.inflight {
			wg.Go(func() { // owned by run, which waits; ends by deadline or requestTimeout
				ok, refused, err := l.caller(ctx, c, deadline)
				mu.Lock()
				defer mu.Unlock()
				completed += ok
				failed += refused
				errs = append(errs, err)
			})
		}
	}
	wg.Wait()
	return completed, failed, errors.Join(errs...)
}

// caller makes calls on c one after the other until deadline.
func (l *ratatoskrLoad) caller(ctx context.Context, c *client.Client, deadline time.Time) (ok, refused int, err error) {
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, requestTimeout)
		resp, err := c.Call(cctx, echoService, l.payload)
		cancel()
		var refusal *envelope.Error
		switch {
		case errors.As(err, &refusal):
			refused++
		case err != nil:
			return ok, refused, fmt.Errorf("ratatoskr: %w", err)
		case len(resp.Payload) != len(l.payload):
			return ok, refused, fmt.Errorf("ratatoskr: echo answered %d bytes, sent %d", len(resp.Payload), len(l.payload))
		default:
			ok++
		}
	}
	return ok, refused, nil
}

// close disconnects every client politely, concurrently.
func (l *ratatoskrLoad) close() {
	closeClients(l.clients)
}

// closeClients closes cs, a few at a time, and waits for them.
func closeClients(cs []*client.Client) {
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, c := range cs {
		sem <- struct{}{}
		wg.Go(func() { // owned by closeClients, which waits; Close is bounded by CloseTimeout
			defer func() { <-sem }()
			c.Close()
		})
	}
	wg.Wait()
}
