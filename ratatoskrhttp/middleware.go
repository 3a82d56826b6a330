package ratatoskrhttp

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
)

// Recoverer returns a middleware that turns a panic in a service into an
// INTERNAL error for that request, so the connection and the server keep
// working. The panic value and stack are not sent to the device; they are
// reported to onPanic when it is non-nil.
func Recoverer(onPanic func(ctx context.Context, req *Request, v any, stack []byte)) Middleware {
	return func(next Service) Service {
		return ServiceFunc(func(ctx context.Context, req *Request) (resp *Response, err error) {
			defer func() {
				if v := recover(); v != nil {
					if onPanic != nil {
						onPanic(ctx, req, v, debug.Stack())
					}
					resp = nil
					err = envelope.WrapError(envelope.CodeInternal, "internal error", fmt.Errorf("ratatoskrhttp: service %q panicked: %v", req.Service, v))
				}
			}()
			return next.Serve(ctx, req)
		})
	}
}
