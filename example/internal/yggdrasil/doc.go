// Package yggdrasil is the example platform backend: a chi router that
// serves a few REST routes next to Ratatoskr mounted at /ratatoskr, with
// three demo services (echo, nornen the marketplace, heidrun the payments).
//
// example/server runs it from flags, example/demo runs it in-process, and
// the tests run it on httptest; all three build it with New:
//
//	s, err := yggdrasil.New(ctx, yggdrasil.Config{}, logger) // embedded dev secret, in-memory nonces
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//	ln, _ := net.Listen("tcp", "127.0.0.1:8080")
//	return s.Serve(ctx, ln) // until ctx ends, then a graceful shutdown
package yggdrasil
