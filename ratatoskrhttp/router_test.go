package ratatoskrhttp_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// tag is a middleware that appends name to the response metadata "trail".
func tag(name string) ratatoskrhttp.Middleware {
	return func(next ratatoskrhttp.Service) ratatoskrhttp.Service {
		return ratatoskrhttp.ServiceFunc(func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			resp, err := next.Serve(ctx, r)
			if resp != nil {
				resp.Metadata = map[string]string{"trail": resp.Metadata["trail"] + name}
			}
			return resp, err
		})
	}
}

func ok(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
	return &ratatoskrhttp.Response{Payload: []byte(r.Service)}, nil
}

func serve(t *testing.T, r *ratatoskrhttp.Router, service string) (*ratatoskrhttp.Response, error) {
	t.Helper()
	return r.Serve(context.Background(), &ratatoskrhttp.Request{Service: service})
}

func TestRouterMiddlewareOrder(t *testing.T) {
	r := ratatoskrhttp.NewRouter()
	r.Use(tag("a"), tag("b")) // a outermost: b adds first, then a
	r.HandleFunc("plain", ok)
	r.With(tag("w")).HandleFunc("with", ok)
	r.Group(func(g *ratatoskrhttp.Router) {
		g.Use(tag("g"))
		g.HandleFunc("grouped", ok)
	})
	for service, trail := range map[string]string{"plain": "ba", "with": "wba", "grouped": "gba"} {
		resp, err := serve(t, r, service)
		if err != nil || resp.Metadata["trail"] != trail || string(resp.Payload) != service {
			t.Errorf("%s: %v %v, want trail %q", service, resp, err, trail)
		}
	}
}

func TestRouterNotFound(t *testing.T) {
	r := ratatoskrhttp.NewRouter()
	if _, err := serve(t, r, "missing"); envelope.CodeOf(err) != envelope.CodeUnknownService || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("default not found: %v", err)
	}
	r.NotFound(ratatoskrhttp.ServiceFunc(func(ctx context.Context, req *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return nil, envelope.NewError("NO_SUCH_THING", "custom")
	}))
	if _, err := serve(t, r, "missing"); envelope.CodeOf(err) != "NO_SUCH_THING" {
		t.Fatalf("custom not found: %v", err)
	}
}

func TestRouterPanicsOnSetupMistakes(t *testing.T) {
	for name, f := range map[string]func(r *ratatoskrhttp.Router){
		"duplicate": func(r *ratatoskrhttp.Router) { r.HandleFunc("x", ok); r.HandleFunc("x", ok) },
		"duplicate in group": func(r *ratatoskrhttp.Router) {
			r.HandleFunc("x", ok)
			r.With(tag("m")).HandleFunc("x", ok)
		},
		"empty name":        func(r *ratatoskrhttp.Router) { r.HandleFunc("", ok) },
		"nil service":       func(r *ratatoskrhttp.Router) { r.Handle("x", nil) },
		"use after service": func(r *ratatoskrhttp.Router) { r.HandleFunc("x", ok); r.Use(tag("late")) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				v := recover()
				if s, _ := v.(string); !strings.HasPrefix(s, "ratatoskrhttp: ") {
					t.Fatalf("panic %v, want a ratatoskrhttp: message", v)
				}
			}()
			f(ratatoskrhttp.NewRouter())
		})
	}
}

func TestNewPanicsWithoutAuthenticator(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	ratatoskrhttp.New(&ratatoskrhttp.Options{})
}
