// Package ratatoskrtest is a test kit for services served by
// ratatoskrhttp: one call gives a running httptest server with the
// handler, a fresh device key and token, and a connected client.
//
//	func TestEcho(t *testing.T) {
//		c := ratatoskrtest.Connect(t, func(h *ratatoskrhttp.Handler) {
//			h.HandleFunc("echo", echo)
//		})
//		resp, err := c.Call(t.Context(), "echo", []byte("hi"))
//		if err != nil || string(resp.Payload) != "hi" {
//			t.Fatalf("echo: %v, %v", resp, err)
//		}
//	}
//
// For more than one device, or server options, start the server with
// NewServer and make devices with Server.Device. Negative tests speak the
// protocol by hand over Device.Raw: send tampered, replayed or malformed
// frames and assert on the answers and the close code.
//
// Everything the kit starts is stopped at the cleanup of the test given:
// since cleanups run last first, a test's clients and raw connections are
// closed before its server's handler is shut down and the server closed. The kit
// reports failures with t.Fatal, so its functions and methods taking or
// holding a testing.TB must be called from the test's goroutine.
//
// The kit is for tests only: it signs tokens with a random secret held in
// memory and turns off the per-address limits.
package ratatoskrtest
