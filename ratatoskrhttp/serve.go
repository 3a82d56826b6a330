package ratatoskrhttp

import (
	"context"
	"errors"
	"net/http"
	"sync"
)

// ShutdownServer shuts srv down gracefully together with the Handlers it
// serves, and returns when all of them have finished. It is the way to stop
// a server that mounts a Handler: http.Server.Shutdown does not wait for
// WebSocket connections (they are hijacked), and a hook registered with
// srv.RegisterOnShutdown runs without being awaited, so the process would
// exit before the sessions get their DISCONNECT.
//
// ShutdownServer runs srv.Shutdown(ctx) (the listeners close, plain HTTP
// requests finish) and every handler's Shutdown(ctx) (each session answers
// its in-flight requests, gets a DISCONNECT with SERVER_SHUTDOWN and is
// closed with 1001) at the same time, and waits for all of them; its
// goroutines have ended when it returns. It returns nil after a clean
// shutdown, otherwise the errors joined; when ctx ends first, that
// includes ctx.Err() (once), and ShutdownServer returns shortly after
// without waiting for services that ignore their context (see
// Handler.Shutdown).
//
// Start ctx's timeout when the shutdown starts, not at boot, and return
// from main only after ShutdownServer has returned: srv.Serve and
// srv.ListenAndServe return http.ErrServerClosed as soon as the shutdown
// begins.
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	go func() { served <- srv.ListenAndServe() }()
//	<-ctx.Done() // or the listener failed: <-served
//	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
//	defer cancel()
//	err := ratatoskrhttp.ShutdownServer(shutdownCtx, srv, h)
func ShutdownServer(ctx context.Context, srv *http.Server, handlers ...*Handler) error {
	errs := make([]error, 1+len(handlers))
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = srv.Shutdown(ctx) })
	for i, h := range handlers {
		wg.Go(func() { errs[1+i] = h.Shutdown(ctx) })
	}
	wg.Wait()
	// Report the context's error once, however many parts ran out of time.
	var out []error
	ctxErr, seen := ctx.Err(), false
	for _, err := range errs {
		if err == nil {
			continue
		}
		if ctxErr != nil && err == ctxErr {
			if seen {
				continue
			}
			seen = true
		}
		out = append(out, err)
	}
	if len(out) == 1 {
		return out[0]
	}
	return errors.Join(out...)
}
