package ratatoskrhttp

import (
	"context"
	"fmt"

	"github.com/ratatoskr-proto/ratatoskr/codec"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

// Code is an error code sent to the device in error_code: one of the
// protocol's (envelope.CodeUnavailable, ...) or one an application
// declares. It is envelope.Code, so that services need not import the wire
// package. A Code is an error too: errors.Is(err, code) holds for every
// coded error carrying it, on the server and on the device alike.
//
//	const ErrPaymentDeclined ratatoskrhttp.Code = "PAYMENT_DECLINED"
//
//	return ratatoskrhttp.NewError(ErrPaymentDeclined, "card declined")
type Code = envelope.Code

// NewError returns an error with code and a message for the device, for a
// service to return (an *envelope.Error: envelope.CodeOf and errors.Is with
// the code work on it). The message is sent to the device as is, cut to
// envelope.MaxMessageLen bytes: it must not carry secrets or internal
// detail.
func NewError(code Code, msg string) error { return envelope.NewError(code, msg) }

// Errorf is NewError with a formatted message. A %w verb wraps its operand
// as the cause, which is logged but not sent; its text is part of the
// message, though, so wrap only errors whose text the device may read.
func Errorf(code Code, format string, args ...any) error {
	return envelope.Errorf(code, format, args...)
}

// Typed adapts a typed function to a Service: the request's payload is
// decoded by c into an In, fn is called with it, and the Out it returns is
// encoded by c as the response's payload. With codec.JSON, In and Out are
// any JSON-encodable types; with codec.Proto they are protobuf message
// pointer types (*pb.Order). When In is a pointer type, each request gets a
// freshly allocated value to point to (see codec.Decode), so fn never
// receives a nil pointer.
//
// A payload that does not decode is answered with SCHEMA_INVALID, whose
// message names the codec and the decoder's error (quoted and cut to
// envelope.QuoteLen bytes; it may repeat field names from the payload), and
// fn is not called. An error from fn is answered as a Service's error is
// (see Service): return NewError(code, msg) to send a code of your own; the
// Out returned next to an error is ignored. An Out that does not encode is
// answered with INTERNAL and a generic message; the encoder's error is
// logged.
//
// Typed responses carry no metadata; use a plain Service for that, or for
// raw payloads. Typed panics when c or fn is nil.
func Typed[In, Out any](c codec.Codec, fn func(ctx context.Context, r *Request, in In) (Out, error)) Service {
	if c == nil || fn == nil {
		panic("ratatoskrhttp: Typed needs a codec and a function")
	}
	return ServiceFunc(func(ctx context.Context, r *Request) (*Response, error) {
		in, err := codec.Decode[In](c, r.Payload)
		if err != nil {
			return nil, envelope.WrapError(envelope.CodeSchemaInvalid,
				fmt.Sprintf("payload does not decode as %s: %s", c.Name(), envelope.Quote(err.Error())), err)
		}
		out, err := fn(ctx, r, in)
		if err != nil {
			return nil, err
		}
		b, err := c.Marshal(out)
		if err != nil {
			// Not an *envelope.Error: sent as INTERNAL with a generic
			// message, and its text only logged.
			return nil, fmt.Errorf("ratatoskrhttp: service %s: encoding the answer as %s: %w", r.Service, c.Name(), err)
		}
		return &Response{Payload: b}, nil
	})
}
