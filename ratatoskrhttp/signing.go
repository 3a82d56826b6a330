package ratatoskrhttp

import (
	"crypto/sha256"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Subprotocols: the server selects SubprotocolV2 when a client offers it,
// saying that it accepts signature v2.
const SubprotocolV2 = "ratatoskr.v2"

var (
	errV2Required   = envelope.NewError(envelope.CodeSignatureInvalid, "signature v2 required: sign the CONNECTION_REQUEST with v2 and say so in its metadata (sig.scheme)")
	errSchemeChange = envelope.NewError(envelope.CodeSignatureInvalid, "a renewal must be signed with the session's signature scheme")
)

// handshakeScheme returns the scheme a CONNECTION_REQUEST is signed with,
// refusing v1 when the handler requires v2.
func (h *Handler) handshakeScheme(req *pb.RatatoskrRequest) (envelope.Scheme, error) {
	s, err := envelope.SchemeOf(req)
	if err != nil {
		return 0, err
	}
	if s == envelope.SchemeV1 && h.o.RequireSignatureV2 {
		return 0, errV2Required
	}
	return s, nil
}

// sign signs resp, when the handler has a response key, as the answer to
// req (nil: to no decodable request) in the connection's current session.
func (c *conn) sign(resp *pb.RatatoskrResponse, req *pb.RatatoskrRequest) {
	key := c.h.o.ResponseKey
	if key == nil {
		return
	}
	sess := c.session()
	var digest *[sha256.Size]byte
	if req != nil {
		var s envelope.Scheme
		if sess != nil {
			s = sess.Scheme
		} else if s, _ = envelope.SchemeOf(req); s == 0 {
			s = envelope.SchemeV1 // an unknown scheme: refused, and bound as v1
		}
		d := s.Digest(req)
		digest = &d
	}
	var id string
	if sess != nil {
		id = sess.ID
	}
	envelope.SignResponse(key, id, digest, resp)
}

// refused is the CONNECTION_RESPONSE refusing a handshake or a renewal,
// naming the response key when there is one.
func (h *Handler) refused(requestID string, err error) *pb.RatatoskrResponse {
	resp := envelope.ConnectionRefused(requestID, err, h.o.ServerVersion, h.now())
	if h.keyID != "" {
		resp.Metadata = map[string]string{envelope.MetadataKeyID: h.keyID}
	}
	return resp
}
