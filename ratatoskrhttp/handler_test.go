package ratatoskrhttp_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

func TestHappyPath(t *testing.T) {
	hs := newHarness(t, nil, nil)
	d := newDevice(t, "alice", "phone-1").dial(hs)
	if got := d.ws.Subprotocol(); got != ratatoskrhttp.Subprotocol {
		t.Fatalf("subprotocol %q", got)
	}
	req := d.connectionRequest(d.token)
	resp := d.roundTrip(req)
	if !resp.Success || resp.MessageType != pb.MessageType_CONNECTION_RESPONSE {
		t.Fatalf("handshake: %v", resp)
	}
	p, err := envelope.ConnectionResult(resp)
	if err != nil || !p.Accepted || p.SessionId == "" || p.ServerVersion != ratatoskrhttp.DefaultServerVersion {
		t.Fatalf("connection payload %v %v", p, err)
	}
	if exp := time.Unix(p.ExpiresAt, 0); exp.Before(time.Now().Add(59*time.Minute)) || exp.After(time.Now().Add(61*time.Minute)) {
		t.Fatalf("expires_at %v, want the token's exp", exp)
	}

	b := d.business("echo", []byte("hello"))
	resp = d.roundTrip(b)
	if !resp.Success || string(resp.Payload) != "hello" || resp.Metadata["echoed"] != "yes" || resp.MessageType != pb.MessageType_BUSINESS_REQUEST {
		t.Fatalf("echo: %v", resp)
	}

	hb, _ := d.signer.Heartbeat()
	resp = d.roundTrip(hb)
	if !resp.Success || resp.MessageType != pb.MessageType_HEARTBEAT {
		t.Fatalf("heartbeat: %v", resp)
	}

	dc, _ := d.signer.Disconnect()
	resp = d.roundTrip(dc)
	if !resp.Success || resp.MessageType != pb.MessageType_DISCONNECT {
		t.Fatalf("disconnect: %v", resp)
	}
	d.expectClose(websocket.StatusNormalClosure)
}

func TestNoSubprotocolServed(t *testing.T) {
	hs := newHarness(t, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, hs.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := newDevice(t, "alice", "phone-1")
	d.ws = ws
	t.Cleanup(func() { ws.CloseNow() })
	if ws.Subprotocol() != "" {
		t.Fatalf("subprotocol %q selected though none was offered", ws.Subprotocol())
	}
	if resp := d.roundTrip(d.connectionRequest(d.token)); !resp.Success {
		t.Fatalf("handshake: %v", resp)
	}
	d.echo()
}

func TestPlainHTTPRefused(t *testing.T) {
	hs := newHarness(t, nil, nil)
	resp, err := http.Get(hs.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
