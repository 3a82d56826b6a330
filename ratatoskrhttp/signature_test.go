package ratatoskrhttp_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// v2 makes d a device that signs with v2: it offers ratatoskr.v2 and signs
// its handshake and requests with v2.
func (d *device) v2() *device {
	d.signer.Scheme = envelope.SchemeV2
	return d
}

// dialV2 dials offering the v2 subprotocol and checks that the server
// selects it.
func (d *device) dialV2(hs *harness) *device {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, hs.url, &websocket.DialOptions{Subprotocols: []string{ratatoskrhttp.SubprotocolV2, ratatoskrhttp.Subprotocol}})
	if err != nil {
		d.t.Fatal(err)
	}
	if ws.Subprotocol() != ratatoskrhttp.SubprotocolV2 {
		d.t.Fatalf("server selected %q", ws.Subprotocol())
	}
	d.ws = ws
	d.t.Cleanup(func() { ws.CloseNow() })
	return d
}

func (d *device) connectV2(hs *harness) *pb.RatatoskrResponse {
	d.t.Helper()
	d.v2().dialV2(hs)
	resp := d.roundTrip(d.connectionRequest(d.token))
	if !resp.Success {
		d.t.Fatalf("v2 handshake refused: %s %s", resp.ErrorCode, resp.ErrorMessage)
	}
	return resp
}

// A v1 device and a v2 device are served side by side, each session in
// the scheme its handshake chose, as the connection responses say.
func TestV1AndV2DevicesOnOneServer(t *testing.T) {
	hs := newHarness(t, nil, nil)
	old := newDevice(t, "alice", "old-phone").dial(hs)
	resp := old.roundTrip(old.connectionRequest(old.token))
	if !resp.Success || resp.Metadata[envelope.MetadataScheme] != "v1" {
		t.Fatalf("v1 handshake: %v", resp)
	}
	cur := newDevice(t, "bob", "new-phone")
	if resp := cur.connectV2(hs); resp.Metadata[envelope.MetadataScheme] != "v2" {
		t.Fatalf("v2 handshake announces %q", resp.Metadata[envelope.MetadataScheme])
	}
	for range 3 {
		old.echo()
		cur.echo()
	}
	if resp := cur.heartbeat(); !resp.Success {
		t.Fatal(resp)
	}
	// A replayed v2 request is a replay, as in v1.
	req := cur.business("echo", []byte("once"))
	if resp := cur.roundTrip(req); !resp.Success {
		t.Fatal(resp)
	}
	cur.expectCode(req, envelope.CodeReplayDetected)
}

// Under v2 a signed request cannot be re-routed, re-typed or re-cut in
// transit: each alteration breaks its signature. (Under v1 the same
// service change would verify; see TestV1DoesNotCoverService.)
func TestV2CoversEveryField(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1")
	d.connectV2(hs)
	alter := map[string]func(r *pb.RatatoskrRequest){
		"service":      func(r *pb.RatatoskrRequest) { r.Metadata[envelope.MetadataService] = "payments" },
		"metadata":     func(r *pb.RatatoskrRequest) { r.Metadata["extra"] = "x" },
		"message_type": func(r *pb.RatatoskrRequest) { r.MessageType = pb.MessageType_HEARTBEAT },
		"nonce→payload": func(r *pb.RatatoskrRequest) {
			r.Payload = append([]byte{r.Nonce[len(r.Nonce)-1]}, r.Payload...)
			r.Nonce = r.Nonce[:len(r.Nonce)-1]
		},
		"request_id→nonce": func(r *pb.RatatoskrRequest) {
			r.Nonce = append([]byte(r.RequestId[len(r.RequestId)-1:]), r.Nonce...)
			r.RequestId = r.RequestId[:len(r.RequestId)-1]
		},
	}
	for name, f := range alter {
		req := d.business("echo", []byte("pay 10"))
		f(req)
		resp := d.roundTrip(req)
		if resp.Success || resp.ErrorCode != string(envelope.CodeSignatureInvalid) {
			t.Errorf("%s altered: %v, want SIGNATURE_INVALID", name, resp)
		}
	}
	d.echo()
}

// Under v1 the service is not covered: the documented limit that v2
// closes.
func TestV1DoesNotCoverService(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	req := d.business("nowhere", []byte("x"))
	req.Metadata[envelope.MetadataService] = "echo"
	if resp := d.roundTrip(req); !resp.Success {
		t.Fatalf("v1: %v", resp)
	}
}

// A v2 session refuses requests signed with v1, renewals included.
func TestV2SessionRefusesV1(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1")
	d.connectV2(hs)
	d.signer.Scheme = envelope.SchemeV1
	d.expectCode(d.business("echo", nil), envelope.CodeSignatureInvalid)
	d.expectCode(d.connectionRequest(d.mint(time.Hour)), envelope.CodeSignatureInvalid)
	d.signer.Scheme = envelope.SchemeV2
	d.echo()
	if resp := d.roundTrip(d.connectionRequest(d.mint(2 * time.Hour))); !resp.Success {
		t.Fatalf("v2 renewal: %v", resp)
	}
}

// A server requiring v2 refuses a v1 handshake with SIGNATURE_INVALID and
// closes; an unknown scheme is refused as well.
func TestRequireSignatureV2(t *testing.T) {
	hs := newHarness(t, &ratatoskrhttp.Options{RequireSignatureV2: true}, nil)
	old := newDevice(t, "alice", "old-phone").dial(hs)
	resp := old.expectCode(old.connectionRequest(old.token), envelope.CodeSignatureInvalid)
	if resp.MessageType != pb.MessageType_CONNECTION_RESPONSE {
		t.Fatal(resp)
	}
	old.expectClose(websocket.StatusPolicyViolation)

	odd := newDevice(t, "alice", "odd-phone").v2().dialV2(hs)
	req := odd.connectionRequest(odd.token)
	req.Metadata[envelope.MetadataScheme] = "v3"
	odd.resign(req)
	odd.expectCode(req, envelope.CodeSignatureInvalid)

	newDevice(t, "bob", "phone").connectV2(hs)
}

// The scheme declaration is covered by the v2 signature: stripping it to
// downgrade the session to v1 breaks the handshake.
func TestV2DowngradeRefused(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1").v2().dialV2(hs)
	req := d.connectionRequest(d.token)
	delete(req.Metadata, envelope.MetadataScheme)
	d.expectCode(req, envelope.CodeSignatureInvalid)
}
