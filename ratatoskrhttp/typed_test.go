package ratatoskrhttp_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/codec"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

type order struct {
	Item string `json:"item"`
	Qty  int    `json:"qty"`
}

type receipt struct {
	User  string `json:"user"`
	Total int    `json:"total"`
}

// ErrPaymentDeclined is a business error declared once, as a code, and
// matched with errors.Is on both sides.
const ErrPaymentDeclined ratatoskrhttp.Code = "PAYMENT_DECLINED"

// typedServer registers typed services next to the harness's raw echo and
// counts the calls that reach a typed function.
func typedServer(t *testing.T) (*harness, *atomic.Int32) {
	t.Helper()
	var called atomic.Int32
	hs := newHarness(t, nil, func(h *ratatoskrhttp.Handler) {
		h.Handle("checkout", ratatoskrhttp.Typed(codec.JSON{}, func(ctx context.Context, r *ratatoskrhttp.Request, in order) (*receipt, error) {
			called.Add(1)
			switch {
			case in.Item == "gold":
				return nil, ratatoskrhttp.NewError(ErrPaymentDeclined, "card declined")
			case in.Qty <= 0:
				return nil, ratatoskrhttp.Errorf(envelope.CodeSchemaInvalid, "quantity %d is not positive", in.Qty)
			}
			return &receipt{User: r.UserID, Total: 3 * in.Qty}, nil
		}))
		h.Handle("greet", ratatoskrhttp.Typed(codec.Proto{}, func(ctx context.Context, r *ratatoskrhttp.Request, in *wrapperspb.StringValue) (*pb.ConnectionResponsePayload, error) {
			called.Add(1)
			return &pb.ConnectionResponsePayload{Accepted: true, SessionId: "hello " + in.GetValue(), ServerVersion: r.DeviceID}, nil
		}))
		h.Handle("infinite", ratatoskrhttp.Typed(codec.JSON{}, func(ctx context.Context, r *ratatoskrhttp.Request, in struct{}) (float64, error) {
			called.Add(1)
			return math.Inf(1), nil // JSON cannot encode it
		}))
	})
	return hs, &called
}

// dialTyped connects a client.Client as d.
func dialTyped(t *testing.T, hs *harness, d *device) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, hs.url, &client.Options{DeviceID: d.signer.DeviceID, UserID: d.signer.UserID, PrivateKey: d.signer.Key, Token: d.token})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestTypedRoundTrip(t *testing.T) {
	t.Parallel()
	hs, called := typedServer(t)
	c := dialTyped(t, hs, newDevice(t, "alice", "phone-1"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	t.Run("json", func(t *testing.T) {
		got, err := client.CallTyped[receipt](ctx, c, codec.JSON{}, "checkout", order{Item: "mead", Qty: 2})
		if err != nil || got != (receipt{User: "alice", Total: 6}) {
			t.Fatalf("checkout = %+v, %v", got, err)
		}
	})
	t.Run("proto", func(t *testing.T) {
		got, err := client.CallTyped[*pb.ConnectionResponsePayload](ctx, c, codec.Proto{}, "greet", wrapperspb.String("Odin"))
		if err != nil || !got.GetAccepted() || got.GetSessionId() != "hello Odin" || got.GetServerVersion() != "phone-1" {
			t.Fatalf("greet = %v, %v", got, err)
		}
	})
	t.Run("raw bytes", func(t *testing.T) {
		resp, err := c.Call(ctx, "echo", []byte("not JSON, not proto"))
		if err != nil || string(resp.Payload) != "not JSON, not proto" {
			t.Fatalf("echo = %v, %v", resp, err)
		}
	})
	if n := called.Load(); n != 2 {
		t.Fatalf("typed services called %d times, want 2", n)
	}
}

func TestTypedDecodeFailure(t *testing.T) {
	t.Parallel()
	hs, called := typedServer(t)
	d := newDevice(t, "alice", "phone-1").connect(hs)
	for _, tc := range []struct {
		name, service string
		payload       []byte
		cause         string // in the message, after the codec's name
	}{
		{"json garbage", "checkout", []byte("\x00\x01garbage"), "invalid character"},
		{"json unknown field", "checkout", []byte(`{"item":"mead","price":1}`), "unknown field"},
		{"json trailing data", "checkout", []byte(`{"item":"mead"}{"item":"ale"}`), "trailing data"},
		{"json wrong type", "checkout", []byte(`{"qty":"two"}`), "cannot unmarshal"},
		{"json empty", "checkout", nil, "empty payload"},
		{"json long", "checkout", []byte(`{"` + strings.Repeat("x", 4096) + `":1}`), "unknown field"},
		{"proto garbage", "greet", []byte{0xff, 0xff, 0xff}, "proto"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := d.expectCode(d.business(tc.service, tc.payload), envelope.CodeSchemaInvalid)
			codecName := "json"
			if tc.service == "greet" {
				codecName = "proto"
			}
			if want := "payload does not decode as " + codecName + ": "; !strings.HasPrefix(resp.ErrorMessage, want) {
				t.Errorf("message %q, want it to start with %q", resp.ErrorMessage, want)
			}
			if !strings.Contains(resp.ErrorMessage, tc.cause) {
				t.Errorf("message %q does not name the cause %q", resp.ErrorMessage, tc.cause)
			}
			if len(resp.ErrorMessage) > envelope.QuoteLen+128 {
				t.Errorf("message of %d bytes is not cut: %q", len(resp.ErrorMessage), resp.ErrorMessage)
			}
		})
	}
	d.echo()
	if n := called.Load(); n != 0 {
		t.Fatalf("typed services called %d times on payloads that do not decode", n)
	}

	// The same through the client: SCHEMA_INVALID, matched by its code.
	c := dialTyped(t, hs, newDevice(t, "bob", "phone-2"))
	_, err := c.Call(context.Background(), "checkout", []byte("{"))
	if !errors.Is(err, envelope.CodeSchemaInvalid) || envelope.CodeOf(err) != envelope.CodeSchemaInvalid {
		t.Fatalf("Call with a broken payload: %v, want SCHEMA_INVALID", err)
	}
	if n := called.Load(); n != 0 {
		t.Fatalf("typed services called %d times on payloads that do not decode", n)
	}
}

func TestTypedErrors(t *testing.T) {
	t.Parallel()
	hs, _ := typedServer(t)
	c := dialTyped(t, hs, newDevice(t, "alice", "phone-1"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	t.Run("business error", func(t *testing.T) {
		_, err := client.CallTyped[receipt](ctx, c, codec.JSON{}, "checkout", order{Item: "gold", Qty: 1})
		if !errors.Is(err, ErrPaymentDeclined) {
			t.Fatalf("err = %v, want errors.Is PAYMENT_DECLINED", err)
		}
		e, ok := errors.AsType[*envelope.Error](err)
		if !ok || e.Code() != ErrPaymentDeclined || e.Message() != "card declined" {
			t.Fatalf("err = %#v, want PAYMENT_DECLINED: card declined", err)
		}
		if errors.Is(err, envelope.CodeInternal) || client.Retryable(err) {
			t.Fatalf("err = %v matches INTERNAL or is retryable", err)
		}
	})
	t.Run("Errorf", func(t *testing.T) {
		_, err := client.CallTyped[receipt](ctx, c, codec.JSON{}, "checkout", order{Item: "mead"})
		e, ok := errors.AsType[*envelope.Error](err)
		if !ok || e.Code() != envelope.CodeSchemaInvalid || e.Message() != "quantity 0 is not positive" {
			t.Fatalf("err = %v, want SCHEMA_INVALID: quantity 0 is not positive", err)
		}
	})
	t.Run("answer does not encode", func(t *testing.T) {
		_, err := client.CallTyped[float64](ctx, c, codec.JSON{}, "infinite", struct{}{})
		e, ok := errors.AsType[*envelope.Error](err)
		if !ok || e.Code() != envelope.CodeInternal || e.Message() != "internal error" {
			t.Fatalf("err = %v, want INTERNAL with a generic message", err)
		}
	})
}

func TestTypedPanicsOnNil(t *testing.T) {
	t.Parallel()
	fn := func(context.Context, *ratatoskrhttp.Request, order) (receipt, error) { return receipt{}, nil }
	for name, f := range map[string]func(){
		"codec":    func() { ratatoskrhttp.Typed[order, receipt](nil, fn) },
		"function": func() { ratatoskrhttp.Typed[order, receipt](codec.JSON{}, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "ratatoskrhttp: ") {
					t.Fatalf("recovered %v, want a ratatoskrhttp panic", r)
				}
			}()
			f()
		})
	}
}

func TestNewErrorKeepsCodeOf(t *testing.T) {
	t.Parallel()
	err := ratatoskrhttp.NewError(ErrPaymentDeclined, strings.Repeat("x", 2*envelope.MaxMessageLen))
	if envelope.CodeOf(err) != ErrPaymentDeclined || !errors.Is(err, ErrPaymentDeclined) {
		t.Fatalf("CodeOf(%v) = %q", err, envelope.CodeOf(err))
	}
	if msg := envelope.MessageOf(err); len(msg) > envelope.MaxMessageLen+64 || !strings.Contains(msg, "cut") {
		t.Fatalf("message of %d bytes not cut", len(msg))
	}
	cause := errors.New("card expired")
	err = ratatoskrhttp.Errorf(ErrPaymentDeclined, "declined: %w", cause)
	if envelope.CodeOf(err) != ErrPaymentDeclined || !errors.Is(err, cause) || envelope.MessageOf(err) != "declined: card expired" {
		t.Fatalf("Errorf = %v (code %q)", err, envelope.CodeOf(err))
	}
}
