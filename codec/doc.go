// Package codec turns typed values into payloads and back, for the typed
// services of package ratatoskrhttp (Typed) and the typed calls of package
// client (CallTyped).
//
// Two codecs ship: JSON, from the standard library, and Proto, for
// protocol buffer messages. Both are stateless values: use codec.JSON{} or
// codec.Proto{} wherever a Codec is wanted. The device and the server must
// use the same codec for a service; the codec is not sent on the wire.
//
//	b, err := codec.JSON{}.Marshal(order)
//	order, err := codec.Decode[*Order](codec.JSON{}, b)
//
// The package links only encoding/json and google.golang.org/protobuf, so
// that device code stays small.
package codec
