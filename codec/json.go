package codec

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// JSON is the Codec of encoding/json. Its Unmarshal is strict: it refuses
// fields that v does not have (DisallowUnknownFields) and anything but
// white space after the value, so that a payload means one thing only.
type JSON struct{}

// Name returns "json".
func (JSON) Name() string { return "json" }

// Marshal returns json.Marshal(v).
func (JSON) Marshal(v any) ([]byte, error) { return json.Marshal(v) }

// Unmarshal decodes exactly one JSON value from b into v, refusing unknown
// fields and trailing data. An empty payload is an error.
func (JSON) Unmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("json: empty payload")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("json: trailing data after the value")
	}
	return nil
}
