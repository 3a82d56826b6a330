package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Renew sends a second CONNECTION_REQUEST on the live connection with a
// fresh token for the same device and user, and on success updates
// Session (ExpiresAt in particular). An empty token asks
// Options.TokenSource, or reuses Options.Token when there is no source. A
// refusal returns an *envelope.Error with the server's code; the server
// may then close the connection.
//
// The server counts a renewal against the request rate: when it announced
// one, Renew waits for the client's rate limiter first, as Call does,
// honouring ctx. The accepting answer announces the limits again, and
// Limits reflects them.
//
// With a TokenSource the client also renews by itself (see
// Options.RenewBefore); a successful Renew reschedules that renewal
// from the new expiry. The server checks one renewal at a time and
// refuses another meanwhile with RATE_LIMITED.
func (c *Client) Renew(ctx context.Context, token string) error {
	l, err := c.active(ctx)
	if err != nil {
		return err
	}
	return l.Renew(ctx, token)
}

// Renew is Client.Renew on this connection.
func (c *link) Renew(ctx context.Context, token string) error {
	if token == "" {
		var err error
		if token, err = c.opts.renewalToken(ctx); err != nil {
			return coded(err)
		}
	}
	resp, err := c.roundTrip(ctx, request{
		admit: admitRate,
		typ:   pb.MessageType_CONNECTION_REQUEST,
		build: func() (*pb.RatatoskrRequest, error) { return c.signer.ConnectionRequest(token) },
	})
	if err != nil {
		return err
	}
	s, err := sessionOf(resp)
	if err != nil {
		return fmt.Errorf("client: renew: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := envelope.LimitsOf(resp); l != (envelope.Limits{}) {
		// A server that announced its limits once still enforces them, so
		// an answer announcing none changes nothing.
		c.setLimits(l)
	}
	if s.ID == "" {
		s.ID = c.session.ID
	}
	if s.ServerVersion == "" {
		s.ServerVersion = c.session.ServerVersion
	}
	c.session = s
	c.scheduleRenewal(c.lifetime(s, resp))
	return nil
}

// Automatic renewal: how often a failed renewal is tried, and the first
// pause between tries (doubled after each).
const (
	renewAttempts = 4
	renewBackoff  = time.Second
)

// lifetime returns how long the session s, granted by resp, lasts from now:
// by the client's clock, or by the server's (the answer's timestamp),
// whichever says less, so that a device clock running late cannot put the
// renewal past the expiry. Zero when the server did not say.
func (c *link) lifetime(s Session, resp *pb.RatatoskrResponse) time.Duration {
	if s.ExpiresAt.IsZero() {
		return 0
	}
	d := s.ExpiresAt.Sub(c.opts.Now())
	if ts := resp.GetTimestamp(); ts > 0 {
		d = min(d, s.ExpiresAt.Sub(time.Unix(ts, 0)))
	}
	return d
}

// renewDelay returns when to renew a session that lasts lifetime from now:
// RenewBefore (or its default) before the end, but not before half the
// lifetime has passed, so that a margin longer than a short session does
// not renew it in a loop.
func (o *Options) renewDelay(lifetime time.Duration) time.Duration {
	margin := o.RenewBefore
	if margin == 0 {
		margin = min(DefaultRenewBefore, lifetime/10)
	}
	return max(lifetime-margin, lifetime/2)
}

// scheduleRenewal arms the automatic renewal of a session that lasts
// lifetime from now, replacing any renewal scheduled before. Nothing is
// armed without a TokenSource, with a negative RenewBefore, for a session
// without an expiry, or once the client is closing or gone. c.mu is held.
//
// The timer's goroutine exists only while it renews (renewLoop); Close
// and the connection's end stop the timer (stopRenewal) and Close waits
// for a renewal under way.
func (c *link) scheduleRenewal(lifetime time.Duration) {
	c.stopRenewal()
	if c.opts.TokenSource == nil || c.opts.RenewBefore < 0 || lifetime <= 0 || c.isClosing || c.err != nil || c.reason != nil {
		return
	}
	gen, deadline := c.renewGen, time.Now().Add(lifetime)
	c.renewTimer = time.AfterFunc(c.opts.renewDelay(lifetime), func() { c.renewLoop(gen, deadline) })
}

// stopRenewal cancels the scheduled renewal, and makes one under way stop
// after its current try. c.mu is held.
func (c *link) stopRenewal() {
	c.renewGen++
	if c.renewTimer != nil {
		c.renewTimer.Stop()
		c.renewTimer = nil
	}
}

// renewLoop renews the session with a token from TokenSource, trying up to
// renewAttempts times with a doubling pause while the session lasts, and
// logs the failures. A failure of TokenSource, or a transient one
// (Retryable), is tried again; the server's refusal of the token is not. It runs on the renewal timer's goroutine, counted in
// c.wg so that Close waits for it; it stops when Close starts, when the
// connection ends (c.ctx, which also ends a try under way), or when a
// later renewal supersedes gen. deadline is the session's expiry by the
// client's clock.
func (c *link) renewLoop(gen uint64, deadline time.Time) {
	if !c.renewing(gen, true) {
		return
	}
	defer c.wg.Done()
	pause := renewBackoff
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithDeadline(c.ctx, deadline)
		token, err := c.opts.sourceToken(ctx)
		refused := false
		if err == nil {
			err = c.Renew(ctx, token)
			// The server refused the token: asking again counts against
			// the device as abuse, unless the refusal is transient.
			refused = err != nil && !Retryable(err)
		}
		cancel()
		if err == nil {
			c.log.Debug("ratatoskr client: session renewed", "expires_at", c.Session().ExpiresAt, "attempt", attempt)
			return
		}
		if c.ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return
		}
		left := time.Until(deadline)
		if refused || attempt == renewAttempts || left <= 0 {
			c.log.Warn("ratatoskr client: automatic renewal failed; the session will expire",
				"error", err, "error_code", envelope.CodeOf(err), "attempts", attempt, "expires_in", left)
			return
		}
		wait := min(pause, left/2)
		pause *= 2
		c.log.Warn("ratatoskr client: automatic renewal failed; retrying",
			"error", err, "error_code", envelope.CodeOf(err), "attempt", attempt, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.closing:
		case <-c.ctx.Done():
		}
		t.Stop()
		if !c.renewing(gen, false) {
			return
		}
	}
}

// renewing reports whether the renewal gen is still wanted: not
// superseded, and the client neither closing nor gone. With join, it also
// counts the renewal in c.wg, under c.mu, so that Close, which sets
// isClosing under c.mu before it waits, never misses it.
func (c *link) renewing(gen uint64, join bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.renewGen || c.isClosing || c.err != nil || c.reason != nil {
		return false
	}
	if join {
		c.wg.Add(1)
	}
	return true
}
