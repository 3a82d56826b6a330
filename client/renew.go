package client

import (
	"context"
	"fmt"

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
func (c *Client) Renew(ctx context.Context, token string) error {
	if token == "" {
		var err error
		if token, err = c.opts.renewalToken(ctx); err != nil {
			return err
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
	return nil
}
