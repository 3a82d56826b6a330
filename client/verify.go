package client

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// SubprotocolV2 is offered first by Dial: a server that selects it accepts
// signature v2, and the client then signs every request with v2.
const SubprotocolV2 = "ratatoskr.v2"

// ErrResponseSignature is wrapped by the error of a call whose answer does
// not carry a valid signature by the server key (Options.ServerKeys): the
// answer was forged, altered, or replayed from another request, and is
// not returned. The error's code (envelope.CodeOf) is SIGNATURE_INVALID.
var ErrResponseSignature = errors.New("client: response not signed by the server's key")

// scheme returns the signature scheme for a connection whose server
// selected subprotocol sub.
func scheme(sub string) envelope.Scheme {
	if sub == SubprotocolV2 {
		return envelope.SchemeV2
	}
	return envelope.SchemeV1
}

// serverKey picks, among the configured server keys, the one a connection
// response names in its metadata (sig.key_id).
func (o *Options) serverKey(resp *pb.RatatoskrResponse) (ed25519.PublicKey, error) {
	id := resp.GetMetadata()[envelope.MetadataKeyID]
	for _, k := range o.ServerKeys {
		if envelope.KeyID(k) == id {
			return k, nil
		}
	}
	if id == "" {
		return nil, responseSignatureError("the server does not sign its responses")
	}
	return nil, responseSignatureError(fmt.Sprintf("the server signs with key %s, which is not among Options.ServerKeys", envelope.Quote(id)))
}

// verify checks that resp is signed by key as the answer to req in the
// session sessionID.
func verify(key ed25519.PublicKey, sessionID string, req *pb.RatatoskrRequest, resp *pb.RatatoskrResponse, s envelope.Scheme) error {
	d := s.Digest(req)
	if err := envelope.VerifyResponse(key, sessionID, &d, resp); err != nil {
		return responseSignatureError(envelope.MessageOf(err))
	}
	return nil
}

func responseSignatureError(msg string) error {
	return envelope.WrapError(envelope.CodeSignatureInvalid, msg, ErrResponseSignature)
}

// checkHandshake checks the answer to the CONNECTION_REQUEST req: that it
// names the scheme the client signs with, and, when the client knows the
// server's keys, that it is signed by one of them (which becomes the
// session's key).
func (c *link) checkHandshake(req *pb.RatatoskrRequest, resp *pb.RatatoskrResponse) error {
	if s, ok := resp.GetMetadata()[envelope.MetadataScheme]; ok && resp.GetSuccess() && s != c.signer.Scheme.String() {
		return responseSignatureError(fmt.Sprintf("the server chose signature %s, the client signs with %s", envelope.Quote(s), c.signer.Scheme))
	}
	if len(c.opts.ServerKeys) == 0 {
		return nil
	}
	key, err := c.opts.serverKey(resp)
	if err != nil {
		return err
	}
	var sessionID string
	if resp.GetSuccess() && resp.GetMessageType() == pb.MessageType_CONNECTION_RESPONSE {
		if p, err := envelope.ConnectionResult(resp); err == nil && p.GetAccepted() {
			sessionID = p.GetSessionId()
		}
	}
	if err := verify(key, sessionID, req, resp, c.signer.Scheme); err != nil {
		return err
	}
	c.mu.Lock()
	c.serverKey = key
	c.mu.Unlock()
	return nil
}

// checkAnswer verifies, when the client knows the server's keys, that resp
// is the server's answer to req in the current session.
func (c *link) checkAnswer(req *pb.RatatoskrRequest, resp *pb.RatatoskrResponse) error {
	if len(c.opts.ServerKeys) == 0 {
		return nil
	}
	c.mu.Lock()
	key, id := c.serverKey, c.session.ID
	c.mu.Unlock()
	return verify(key, id, req, resp, c.signer.Scheme)
}

// answerTo returns resp as the answer to req once checkAnswer passes it.
func (c *link) answerTo(req *pb.RatatoskrRequest, resp *pb.RatatoskrResponse) (*pb.RatatoskrResponse, error) {
	if err := c.checkAnswer(req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// unsolicitedOK reports whether a response that answers no pending
// request (a server DISCONNECT, an ERROR for an undecodable frame) is the
// server's, when the client knows the server's keys.
func (c *link) unsolicitedOK(resp *pb.RatatoskrResponse) bool {
	if len(c.opts.ServerKeys) == 0 {
		return true
	}
	c.mu.Lock()
	key, id := c.serverKey, c.session.ID
	c.mu.Unlock()
	return envelope.VerifyResponse(key, id, nil, resp) == nil
}

// Scheme returns the signature scheme the client signs with: v2 when the
// server selected "ratatoskr.v2", v1 otherwise. Requests built by hand for
// Send must be signed with it.
func (c *Client) Scheme() envelope.Scheme {
	return c.current().Scheme()
}

// Scheme is Client.Scheme on this connection.
func (c *link) Scheme() envelope.Scheme { return c.signer.Scheme }
