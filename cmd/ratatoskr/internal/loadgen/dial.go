package loadgen

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

// dialTimeout bounds each connection's dial and handshake.
const dialTimeout = 10 * time.Second

// dialed is an open connection and the signer of its device, set up as the
// client's own (same identity, key and signature scheme).
type dialed struct {
	c      *client.Client
	signer *envelope.Signer
}

// dialAll opens cfg.Conns connections, up to 32 handshakes at a time. On
// any failure it closes those it opened and returns an error wrapping
// ErrConnection.
func dialAll(ctx context.Context, cfg Config) ([]dialed, error) {
	out := make([]dialed, cfg.Conns)
	errs := make([]error, cfg.Conns)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range cfg.Conns {
		wg.Go(func() { // owned by dialAll, which waits; bounded by dialTimeout
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], errs[i] = dialOne(ctx, cfg, i)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("%w: connection %d: %w", ErrConnection, i, err)
		}
	}
	return out, nil
}

func dialOne(ctx context.Context, cfg Config, i int) (dialed, error) {
	o, err := cfg.Device(i)
	if err != nil {
		return dialed{}, err
	}
	if o.CloseTimeout == 0 {
		o.CloseTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := client.Dial(ctx, cfg.URL, &o)
	if err != nil {
		return dialed{}, err
	}
	s := &envelope.Signer{DeviceID: o.DeviceID, UserID: o.UserID, Key: o.PrivateKey, Now: o.Now, Rand: o.Rand, Scheme: envelope.SchemeV1}
	if c.Subprotocol() == client.SubprotocolV2 {
		s.Scheme = envelope.SchemeV2
	}
	return dialed{c: c, signer: s}, nil
}

// closeAll closes the open connections, concurrently, and waits for them.
func closeAll(ds []dialed) {
	var wg sync.WaitGroup
	for _, d := range ds {
		if d.c != nil {
			wg.Go(func() { d.c.Close() }) // owned by closeAll, which waits; bounded by CloseTimeout
		}
	}
	wg.Wait()
}
