package codec

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// Proto is the Codec of protocol buffer messages: values must be
// proto.Message (pointer message types such as *wrapperspb.StringValue),
// and any other value is an error. Unmarshal keeps unknown fields, as
// protobuf does, so that older and newer schemas interoperate.
type Proto struct{}

// Name returns "proto".
func (Proto) Name() string { return "proto" }

// Marshal returns proto.Marshal(v) for a proto.Message.
func (Proto) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, notProto(v)
	}
	return proto.Marshal(m)
}

// Unmarshal decodes b into v, a non-nil proto.Message, replacing its
// contents.
func (Proto) Unmarshal(b []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return notProto(v)
	}
	if !m.ProtoReflect().IsValid() {
		return fmt.Errorf("codec: proto: cannot decode into a nil %T", v)
	}
	return proto.Unmarshal(b, m)
}
