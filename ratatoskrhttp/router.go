package ratatoskrhttp

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Request is a validated business request as a service sees it. Each call
// gets its own Request; its slices and maps may be read concurrently by
// middleware and the service but must not be modified.
type Request struct {
	// Service is metadata["service"], the name the request was routed by.
	Service string
	// RequestID, DeviceID, UserID, Timestamp, Nonce, Payload and Metadata
	// are the envelope's fields, already validated and signature checked.
	RequestID string
	DeviceID  string
	UserID    string
	Timestamp time.Time
	Nonce     []byte
	Payload   []byte
	Metadata  map[string]string
	// Session is the connection's session when the request was read.
	Session Session
	// Envelope is the decoded request as it arrived.
	Envelope *pb.RatatoskrRequest
}

// Session is an authenticated connection's session, as a value copied for
// each request; its Identity is shared and read-only.
type Session struct {
	// ID is the session id sent to the device in the handshake.
	ID string
	// Identity is the authenticated device from its token.
	Identity auth.Identity
	// ExpiresAt is when the session ends unless renewed.
	ExpiresAt time.Time
	// RemoteAddr is the peer's address as net/http saw it.
	RemoteAddr string
	// Scheme is the signature scheme of the session's requests, chosen by
	// its handshake.
	Scheme envelope.Scheme

	key   envelope.DeviceKey // Identity.PublicKey, checked once at the handshake
	scope string             // envelope.Scope of the identity: the device's key in limits
}

// Response is a service's successful answer. The handler reads it once the
// service has returned; the service must not touch it afterwards.
type Response struct {
	// Payload is sent to the device as is.
	Payload []byte
	// Metadata is sent to the device with the response.
	Metadata map[string]string
}

// Service answers business requests. Serve is called concurrently, each
// call on its own goroutine, with a context that ends when the connection
// goes, the request times out, or the server shuts down.
//
// An error becomes a failed response: its code is envelope.CodeOf(err), so
// return an *envelope.Error (for instance envelope.NewError("PAYMENT_DECLINED",
// "card declined")) to send a code and message of your own. Any other error
// is sent as INTERNAL with a generic message, and its text is only logged.
// A non-nil Response next to an error adds its payload and metadata to the
// failed response.
type Service interface {
	Serve(ctx context.Context, req *Request) (*Response, error)
}

// ServiceFunc adapts a function to a Service.
type ServiceFunc func(ctx context.Context, req *Request) (*Response, error)

// Serve calls f(ctx, req).
func (f ServiceFunc) Serve(ctx context.Context, req *Request) (*Response, error) { return f(ctx, req) }

// Middleware wraps a Service, as chi middleware wraps an http.Handler.
type Middleware func(Service) Service

// Router routes business requests to services by metadata["service"], in
// chi's vocabulary. Register services before serving; registration is
// safe for concurrent use with routing, but a service registered while
// requests are in flight only sees later requests.
type Router struct {
	table *routeTable
	mws   []Middleware
	// inline is set on routers made by With and Group: their middleware
	// stacks may grow after routes exist, as in chi.
	inline bool
}

type routeTable struct {
	mu       sync.RWMutex
	services map[string]Service
	notFound Service
	used     bool // a route was registered on the root router
}

// NewRouter returns an empty Router whose unknown services answer
// UNKNOWN_SERVICE.
func NewRouter() *Router {
	return &Router{table: &routeTable{services: make(map[string]Service)}}
}

// Use appends middlewares to the router's stack. On the root router it
// panics once a service is registered, since those services would silently
// miss the middleware.
func (r *Router) Use(mws ...Middleware) {
	if !r.inline {
		r.table.mu.RLock()
		used := r.table.used
		r.table.mu.RUnlock()
		if used {
			panic("ratatoskrhttp: all middlewares must be defined before services on a router")
		}
	}
	r.mws = append(r.mws, mws...)
}

// With returns an inline router that adds mws to this router's stack for
// the services registered on it.
func (r *Router) With(mws ...Middleware) *Router {
	stack := make([]Middleware, 0, len(r.mws)+len(mws))
	stack = append(stack, r.mws...)
	stack = append(stack, mws...)
	return &Router{table: r.table, mws: stack, inline: true}
}

// Group calls fn with an inline router that shares this router's stack;
// middlewares fn adds with Use apply only inside the group.
func (r *Router) Group(fn func(r *Router)) *Router {
	g := r.With()
	if fn != nil {
		fn(g)
	}
	return g
}

// Handle registers s for service name. It panics when name is empty, s is
// nil, or name is already registered.
func (r *Router) Handle(name string, s Service) {
	if name == "" {
		panic("ratatoskrhttp: empty service name")
	}
	if s == nil {
		panic(fmt.Sprintf("ratatoskrhttp: nil service for %q", name))
	}
	wrapped := chain(r.mws, s)
	r.table.mu.Lock()
	defer r.table.mu.Unlock()
	if _, dup := r.table.services[name]; dup {
		panic(fmt.Sprintf("ratatoskrhttp: service %q registered twice", name))
	}
	r.table.services[name] = wrapped
	if !r.inline {
		r.table.used = true
	}
}

// HandleFunc registers f for service name, as Handle.
func (r *Router) HandleFunc(name string, f func(ctx context.Context, req *Request) (*Response, error)) {
	if f == nil {
		panic(fmt.Sprintf("ratatoskrhttp: nil service for %q", name))
	}
	r.Handle(name, ServiceFunc(f))
}

// NotFound sets the service that answers requests for unregistered
// services (and requests without one). Defaults to answering
// UNKNOWN_SERVICE.
func (r *Router) NotFound(s Service) {
	wrapped := chain(r.mws, s)
	r.table.mu.Lock()
	r.table.notFound = wrapped
	r.table.mu.Unlock()
}

// Serve routes req to its service, making the Router itself a Service.
func (r *Router) Serve(ctx context.Context, req *Request) (*Response, error) {
	r.table.mu.RLock()
	s, ok := r.table.services[req.Service]
	if !ok {
		s = r.table.notFound
	}
	r.table.mu.RUnlock()
	if s == nil {
		return nil, envelope.Errorf(envelope.CodeUnknownService, "unknown service %s", envelope.Quote(req.Service))
	}
	return s.Serve(ctx, req)
}

// chain wraps s in mws, the first middleware outermost.
func chain(mws []Middleware, s Service) Service {
	for i := len(mws) - 1; i >= 0; i-- {
		s = mws[i](s)
	}
	return s
}
