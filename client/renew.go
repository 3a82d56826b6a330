package client

import (
	"context"
	"fmt"
)

// Renew sends a second CONNECTION_REQUEST on the live connection with a
// fresh token for the same device and user, and on success updates
// Session (ExpiresAt in particular). An empty token asks
// Options.TokenSource, or reuses Options.Token when there is no source. A
// refusal returns an *envelope.Error with the server's code; the server
// may then close the connection.
func (c *Client) Renew(ctx context.Context, token string) error {
	if token == "" {
		var err error
		if token, err = c.opts.renewalToken(ctx); err != nil {
			return err
		}
	}
	req, err := c.signer.ConnectionRequest(token)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	resp, err := c.roundTrip(ctx, req, false, false)
	if err != nil {
		return err
	}
	s, err := sessionOf(resp)
	if err != nil {
		return fmt.Errorf("client: renew: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.ID == "" {
		s.ID = c.session.ID
	}
	if s.ServerVersion == "" {
		s.ServerVersion = c.session.ServerVersion
	}
	c.session = s
	return nil
}
