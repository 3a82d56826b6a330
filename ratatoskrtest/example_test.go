package ratatoskrtest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrtest"
)

// Test a service in a few lines: a server with the service, and a
// connected client of a fresh device.
func ExampleConnect() {
	t := newExampleT() // in a test: the test's *testing.T
	defer t.cleanup()

	c := ratatoskrtest.Connect(t, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			return &ratatoskrhttp.Response{Payload: r.Payload}, nil
		})
	})
	resp, err := c.Call(context.Background(), "echo", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(string(resp.Payload))
	// Output: hello
}

// A negative test: a payload changed after signing is refused with
// SIGNATURE_INVALID.
func ExampleRawConn() {
	t := newExampleT() // in a test: the test's *testing.T
	defer t.cleanup()

	s := ratatoskrtest.NewServer(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			return &ratatoskrhttp.Response{Payload: r.Payload}, nil
		})
	})
	raw := s.Device("alice", "phone").Raw(t)
	raw.Handshake()

	req := raw.Business("echo", []byte("pay 10"))
	req.Payload = []byte("pay 1000")
	resp := raw.RoundTrip(req)
	fmt.Println(resp.Success, resp.ErrorCode)
	// Output: false SIGNATURE_INVALID
}

// exampleT stands in for the *testing.T an Example does not have: it runs
// the cleanups when the example returns and panics on failure. Only the
// methods the kit and the examples call are implemented.
type exampleT struct {
	testing.TB
	cleanups []func()
}

func newExampleT() *exampleT { return &exampleT{} }

func (t *exampleT) Helper()                        {}
func (t *exampleT) Cleanup(f func())               { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Fatal(args ...any)              { panic(fmt.Sprint(args...)) }
func (t *exampleT) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (t *exampleT) Errorf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

// cleanup runs the cleanups, last registered first, as testing does.
func (t *exampleT) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
