package ratatoskrhttp

import "github.com/coder/websocket"

// Close codes the handler uses. Codes 4000-4999 are left to applications;
// Ratatoskr itself only uses the standard codes below.
const (
	// CloseNormal ends a session the device asked to end, or one that
	// expired (after a DISCONNECT with SESSION_EXPIRED).
	CloseNormal = websocket.StatusNormalClosure // 1000
	// CloseGoingAway ends sessions when the server shuts down (after a
	// DISCONNECT with SERVER_SHUTDOWN).
	CloseGoingAway = websocket.StatusGoingAway // 1001
	// CloseUnsupportedData answers a text frame: the protocol is binary.
	CloseUnsupportedData = websocket.StatusUnsupportedData // 1003
	// ClosePolicyViolation follows a refused handshake, a request before
	// the handshake, a handshake timeout and repeated protocol errors.
	ClosePolicyViolation = websocket.StatusPolicyViolation // 1008
	// CloseMessageTooBig ends a connection whose frame exceeds the hard
	// frame limit (four times the message size limit); smaller oversized
	// frames get PAYLOAD_TOO_LARGE and the connection stays.
	CloseMessageTooBig = websocket.StatusMessageTooBig // 1009
	// CloseInternalError ends a connection on a server fault.
	CloseInternalError = websocket.StatusInternalError // 1011
)
