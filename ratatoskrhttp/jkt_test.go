package ratatoskrhttp_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/internal/forge"
)

// jktToken mints a token that binds pub by its thumbprint (cnf.jkt).
func jktToken(t *testing.T, user, dev string, pub ed25519.PublicKey) string {
	t.Helper()
	tok, err := auth.MintHS256(testSecret, auth.MintOptions{UserID: user, DeviceID: dev, DevicePublicKey: pub, BindByThumbprint: true})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A token that binds the device key by thumbprint is accepted with the
// matching key presented in the handshake, and refused with any other key,
// with no key, and with a weak key whose thumbprint matches.
func TestThumbprintBinding(t *testing.T) {
	hs := newHarness(t, nil, nil)

	d := newDevice(t, "alice", "phone-1")
	d.token = jktToken(t, "alice", "phone-1", d.pub)
	d.connect(hs).echo()

	// Another key, presented and signing: its thumbprint is not the token's.
	thief := newDevice(t, "alice", "phone-1").dial(hs)
	resp := thief.expectCode(thief.connectionRequest(d.token), envelope.CodeAuthFailed)
	if !strings.Contains(resp.ErrorMessage, "cnf.jkt") {
		t.Fatalf("message %q", resp.ErrorMessage)
	}
	thief.expectClose(websocket.StatusPolicyViolation)

	// The right key presented, but the request signed by another: the
	// signature check refuses it.
	swap := newDevice(t, "alice", "phone-1").dial(hs)
	req := swap.connectionRequest(d.token)
	req.Metadata[envelope.MetadataDeviceKey] = base64.RawURLEncoding.EncodeToString(d.pub)
	swap.resign(req)
	swap.expectCode(req, envelope.CodeSignatureInvalid)

	// No key presented.
	bare := newDevice(t, "alice", "phone-1")
	bare.token = jktToken(t, "alice", "phone-1", bare.pub)
	bare.dial(hs)
	req = bare.connectionRequest(bare.token)
	delete(req.Metadata, envelope.MetadataDeviceKey)
	bare.resign(req)
	bare.expectCode(req, envelope.CodeAuthFailed)

	// A small-order key with a matching thumbprint is as unacceptable as in
	// cnf.jwk: the constant signature would verify for any message.
	neutral := forge.NeutralKey()
	claims := jwt.MapClaims{"sub": "mallory", "device_id": "phone-x", "exp": time.Now().Add(time.Hour).Unix(),
		"cnf": map[string]any{"jkt": auth.Thumbprint(neutral)}}
	weak, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	mallory := newDevice(t, "mallory", "phone-x").dial(hs)
	req = mallory.connectionRequest(weak)
	req.Metadata[envelope.MetadataDeviceKey] = base64.RawURLEncoding.EncodeToString(neutral)
	req.Signature = forge.ConstantSignature()
	resp = mallory.expectCode(req, envelope.CodeAuthFailed)
	if !strings.Contains(resp.ErrorMessage, "unacceptable") {
		t.Fatalf("message %q does not say the key is unacceptable", resp.ErrorMessage)
	}
	d.echo()
}

// A device rotates its key by renewing its session with a token bound to
// the new key, signed with the new key: the session goes on under the new
// key, and requests signed with the old one are refused.
func TestDeviceKeyRotationByRenewal(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	oldSigner := *d.signer
	fresh := newDevice(t, "alice", "phone-1") // the same device with a new key pair
	resp := d.roundTrip(fresh.connectionRequest(fresh.token))
	if !resp.Success {
		t.Fatalf("renewal with the new key: %v", resp)
	}
	d.signer, d.pub = fresh.signer, fresh.pub
	d.echo()
	old := &device{t: t, ws: d.ws, signer: &oldSigner}
	old.expectCode(old.business("echo", nil), envelope.CodeSignatureInvalid)
	d.echo()
}
