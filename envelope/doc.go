// Package envelope builds, signs, verifies and validates Ratatoskr
// envelopes. It does no I/O of its own: the nonce store it records into is
// injected.
//
// A device signs each request with its Ed25519 key over the v1 digest
// (see Digest); the server decodes a frame with Validator.Decode, checks
// its session state, and runs Validator.Validate, which applies DESIGN.md's
// validation order and returns an *Error carrying a stable Code:
//
//	v := envelope.NewValidator(nil) // 1 MiB frames, 300 s window, 30 s skew, in-memory nonces
//	req, err := v.Decode(frame)
//	if err == nil {
//		err = v.Validate(ctx, req, envelope.Expect{UserID: u, DeviceID: d, PublicKey: pub})
//	}
//	if err != nil {
//		resp := envelope.Failure(req.GetMessageType(), req.GetRequestId(), err, time.Now())
//		// send resp; its error_code is envelope.CodeOf(err)
//	}
//
// Signature v1 covers neither message_type nor metadata (so neither the
// service name). Integrity of those fields rests on the transport: always
// serve Ratatoskr over TLS.
package envelope
