package codec

import (
	"errors"
	"fmt"
	"reflect"
)

// Codec encodes values into payloads and decodes payloads into values.
// Implementations must be safe for concurrent use.
//
// Unmarshal decodes untrusted input: it must refuse what does not fit v
// rather than guess, and its error may be sent back to the peer (cut), so
// it should not carry secrets.
type Codec interface {
	// Name names the codec in errors, for instance "json".
	Name() string
	// Marshal encodes v.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes b into v, which is a pointer (for Proto, a
	// proto.Message).
	Unmarshal(b []byte, v any) error
}

// Decode returns a new T decoded from b by c. When T is a pointer type
// (for instance *Order, or a protobuf message type such as
// *wrapperspb.StringValue), Decode allocates the value it points to and
// decodes into that; otherwise it decodes into a T of its own. So
// Decode[Order] and Decode[*Order] both work with JSON, and protobuf
// messages are decoded as the pointer types they are.
//
// Decode panics when c is nil.
func Decode[T any](c Codec, b []byte) (T, error) {
	var v T
	if t := reflect.TypeFor[T](); t.Kind() == reflect.Pointer {
		v = reflect.New(t.Elem()).Interface().(T)
		return v, c.Unmarshal(b, v)
	}
	err := c.Unmarshal(b, &v)
	return v, err
}

// errNotProto is Proto's error for a value that is not a proto.Message.
var errNotProto = errors.New("codec: proto: value is not a proto.Message")

func notProto(v any) error { return fmt.Errorf("%w: %T", errNotProto, v) }
