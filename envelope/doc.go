// Package envelope builds, signs, verifies and validates Ratatoskr
// envelopes. It does no I/O of its own: the replay store it records into is
// injected.
//
// A device signs each request with its Ed25519 key over the digest of its
// session's scheme (Scheme: DigestV2 for v2, Digest for the reference
// implementation's v1); the server decodes a frame with Validator.Decode, checks
// its session state, and runs Validator.Validate, which applies the
// protocol's validation order (docs/PROTOCOL.md, "Validation order
// (server)") and returns an *Error carrying a stable Code. The device key is
// checked once, when it enters (NewDeviceKey refuses small-order,
// mixed-order and non-canonical keys), not per request:
//
//	key, err := envelope.NewDeviceKey(pub) // once per token: AUTH_FAILED for a weak key
//	v := envelope.NewValidator(nil)        // 1 MiB frames, 300 s window, 30 s skew, in-memory replay store
//	req, err := v.Decode(frame)
//	if err == nil {
//		err = v.Validate(ctx, req, envelope.Expect{UserID: u, DeviceID: d, Key: key, Scheme: envelope.SchemeV2})
//	}
//	if err != nil {
//		resp := envelope.Failure(req.GetMessageType(), req.GetRequestId(), err, time.Now())
//		// send resp; its error_code is envelope.CodeOf(err)
//	}
//
// A request is accepted once: the replay record is keyed on the device and
// the digest of what the signature covers (ReplayKey), so no re-split of a
// captured frame's bytes between nonce, payload and identifiers passes as
// new. Signature v1 covers neither message_type nor metadata (so neither
// the service name); v2 covers every field with its length. A server may
// also sign its responses (SignResponse, VerifyResponse), bound to the
// session and to the request each answers. docs/PROTOCOL.md and
// docs/SECURITY.md have the whole contract and threat model.
package envelope
