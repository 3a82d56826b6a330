package envelope

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// ConnectionPayload decodes the ConnectionRequestPayload of a
// CONNECTION_REQUEST. It returns an *Error with CodeMalformed when the
// payload does not decode, and CodeSchemaInvalid when it lacks a token or
// names another device than the envelope.
func ConnectionPayload(req *pb.RatatoskrRequest) (*pb.ConnectionRequestPayload, error) {
	p := new(pb.ConnectionRequestPayload)
	if err := proto.Unmarshal(req.GetPayload(), p); err != nil {
		return nil, WrapError(CodeMalformed, "connection payload is not a valid ConnectionRequestPayload", err)
	}
	if p.GetAuthenticationToken() == "" {
		return nil, NewError(CodeSchemaInvalid, "connection payload has no authentication_token")
	}
	if id := p.GetDeviceIdentity(); id != "" && id != req.GetDeviceId() {
		return nil, NewError(CodeIdentityMismatch, "device_identity does not match device_id")
	}
	return p, nil
}

// ConnectionResult decodes the ConnectionResponsePayload of a
// CONNECTION_RESPONSE. It returns an *Error with CodeMalformed when the
// payload does not decode.
func ConnectionResult(resp *pb.RatatoskrResponse) (*pb.ConnectionResponsePayload, error) {
	p := new(pb.ConnectionResponsePayload)
	if err := proto.Unmarshal(resp.GetPayload(), p); err != nil {
		return nil, WrapError(CodeMalformed, "connection payload is not a valid ConnectionResponsePayload", err)
	}
	return p, nil
}

// ResponseError returns nil for a successful response and otherwise an
// *Error carrying the response's error code and message. A failed response
// without a code gets CodeInternal.
func ResponseError(resp *pb.RatatoskrResponse) error {
	if resp.GetSuccess() {
		return nil
	}
	code := Code(resp.GetErrorCode())
	if code == "" {
		code = CodeInternal
	}
	return NewError(code, resp.GetErrorMessage())
}
