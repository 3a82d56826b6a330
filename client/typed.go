package client

import (
	"context"
	"fmt"

	"github.com/ratatoskr-proto/ratatoskr/codec"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

// CallTyped is Client.Call with typed values: in is encoded by cdc as the
// request's payload, and the answer's payload is decoded by cdc into an
// Out. Out comes first so that it is the only type to write; In follows
// from in:
//
//	receipt, err := client.CallTyped[*Receipt](ctx, c, codec.JSON{}, "checkout", order)
//
// With codec.JSON, In and Out are any JSON-encodable types; with
// codec.Proto they are protobuf message pointer types. When Out is a
// pointer type, the value it points to is allocated for the answer (see
// codec.Decode). The service must use the same codec (on the server,
// ratatoskrhttp.Typed).
//
// Errors of the call and the server's failed answers are returned as
// Client.Call returns them, unchanged: errors.Is(err, code) and
// envelope.CodeOf(err) give the server's code, SCHEMA_INVALID when the
// server could not decode in. An in that does not encode is an error with
// the code INTERNAL, and nothing is sent. An answer that does not decode
// is an error with the code INTERNAL too, wrapping the decoder's error: the
// two sides disagree on the service's types, which retrying does not fix
// (Retryable reports false); the call was served all the same.
//
// CallTyped is safe for concurrent use, as Client.Call is. It panics when
// cdc is nil.
func CallTyped[Out, In any](ctx context.Context, c *Client, cdc codec.Codec, service string, in In, opts ...CallOption) (Out, error) {
	var zero Out
	payload, err := cdc.Marshal(in)
	if err != nil {
		return zero, envelope.WrapError(envelope.CodeInternal,
			fmt.Sprintf("client: encoding the request to %s as %s: %v", service, cdc.Name(), err), err)
	}
	resp, err := c.Call(ctx, service, payload, opts...)
	if err != nil {
		return zero, err
	}
	out, err := codec.Decode[Out](cdc, resp.Payload)
	if err != nil {
		return zero, envelope.WrapError(envelope.CodeInternal,
			fmt.Sprintf("client: the answer of %s does not decode as %s: %v", service, cdc.Name(), err), err)
	}
	return out, nil
}
