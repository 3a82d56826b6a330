package ratatoskrtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

const (
	// RecvTimeout bounds Recv and each read of ExpectClose.
	RecvTimeout = 5 * time.Second
	// rawReadLimit is the largest frame a RawConn reads.
	rawReadLimit = 8 << 20
)

// RawConn is a device's WebSocket connection that speaks the protocol by
// hand, for negative tests: send anything, then assert on the answer or the
// close code. Its methods fail the test on an I/O error; they are not safe
// for concurrent use and must be called from the test's goroutine.
type RawConn struct {
	// Conn is the underlying connection, for what the methods do not cover.
	Conn *websocket.Conn

	t testing.TB
	d *Device
}

// Handshake sends a CONNECTION_REQUEST with the device's token and
// returns the answer; a refused handshake fails the test. For a handshake
// meant to fail, RoundTrip a Signer.ConnectionRequest instead.
func (r *RawConn) Handshake() *pb.RatatoskrResponse {
	r.t.Helper()
	req, err := r.d.Signer.ConnectionRequest(r.d.Token)
	if err != nil {
		r.t.Fatalf("ratatoskrtest: %v", err)
	}
	resp := r.RoundTrip(req)
	if !resp.Success {
		r.t.Fatalf("ratatoskrtest: handshake refused: %s %s", resp.ErrorCode, resp.ErrorMessage)
	}
	return resp
}

// Business returns a signed BUSINESS_REQUEST of the device for service,
// to tamper with before sending.
func (r *RawConn) Business(service string, payload []byte) *pb.RatatoskrRequest {
	r.t.Helper()
	req, err := r.d.Signer.Business(service, payload, nil)
	if err != nil {
		r.t.Fatalf("ratatoskrtest: %v", err)
	}
	return req
}

// Resign signs req again with the device's key and signature scheme, after
// the test changed it, and returns it.
func (r *RawConn) Resign(req *pb.RatatoskrRequest) *pb.RatatoskrRequest {
	envelope.SignWith(req, r.d.Signer.Key, r.d.Signer.Scheme)
	return req
}

// Send writes req as a binary frame, as it is.
func (r *RawConn) Send(req *pb.RatatoskrRequest) {
	r.t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		r.t.Fatalf("ratatoskrtest: marshal: %v", err)
	}
	r.SendBytes(b)
}

// SendBytes writes b as a binary frame.
func (r *RawConn) SendBytes(b []byte) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RecvTimeout)
	defer cancel()
	if err := r.Conn.Write(ctx, websocket.MessageBinary, b); err != nil {
		r.t.Fatalf("ratatoskrtest: write: %v", err)
	}
}

// Recv reads the next response. It fails the test when none arrives within
// RecvTimeout, the connection ends, or the frame is not a response.
func (r *RawConn) Recv() *pb.RatatoskrResponse {
	r.t.Helper()
	resp, err := r.recv()
	if err != nil {
		r.t.Fatalf("ratatoskrtest: read: %v", err)
	}
	return resp
}

func (r *RawConn) recv() (*pb.RatatoskrResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), RecvTimeout)
	defer cancel()
	typ, b, err := r.Conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageBinary {
		return nil, errors.New("server sent a text frame")
	}
	var resp pb.RatatoskrResponse
	if err := proto.Unmarshal(b, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// RoundTrip sends req and returns the next response, which must answer
// it (same request id).
func (r *RawConn) RoundTrip(req *pb.RatatoskrRequest) *pb.RatatoskrResponse {
	r.t.Helper()
	r.Send(req)
	resp := r.Recv()
	if resp.RequestId != req.RequestId {
		r.t.Fatalf("ratatoskrtest: response for request %q, want %q", resp.RequestId, req.RequestId)
	}
	return resp
}

// ExpectClose reads, skipping responses, until the server closes the
// connection, and fails the test unless it closed with code or a read
// waited longer than RecvTimeout.
func (r *RawConn) ExpectClose(code websocket.StatusCode) {
	r.t.Helper()
	for {
		_, err := r.recv()
		if err == nil {
			continue
		}
		if got := websocket.CloseStatus(err); got != code {
			r.t.Fatalf("ratatoskrtest: connection ended with %v (%v), want close code %v", got, err, code)
		}
		return
	}
}
