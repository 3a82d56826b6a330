package yggdrasil

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/api"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// Echo is the echo service: it answers the payload unchanged.
func Echo(_ context.Context, req *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
	return &ratatoskrhttp.Response{Payload: req.Payload}, nil
}

// decode reads a JSON payload into v strictly: unknown fields and trailing
// data are refused with INVALID_REQUEST, so a typo does not pass silently.
func decode(payload []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return envelope.Errorf(api.CodeInvalidRequest, "payload is not the expected JSON: %v", err)
	}
	if dec.More() {
		return envelope.NewError(api.CodeInvalidRequest, "payload has data after the JSON object")
	}
	return nil
}

// reply encodes v as a JSON response payload.
func reply(v any) (*ratatoskrhttp.Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err // INTERNAL for the device; the handler logs the cause
	}
	return &ratatoskrhttp.Response{Payload: b, Metadata: map[string]string{"content-type": "application/json"}}, nil
}
