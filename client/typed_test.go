package client_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/codec"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

type item struct {
	Name string `json:"name"`
	Qty  int    `json:"qty"`
}

const errOutOfStock envelope.Code = "OUT_OF_STOCK"

func TestCallTyped(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	s := newServer(t, nil, func(h *ratatoskrhttp.Handler) {
		h.HandleFunc("count", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
			served.Add(1)
			return &ratatoskrhttp.Response{Payload: r.Payload}, nil
		})
		h.Handle("reserve", ratatoskrhttp.Typed(codec.JSON{}, func(ctx context.Context, r *ratatoskrhttp.Request, in item) (item, error) {
			if in.Qty > 3 {
				return item{}, ratatoskrhttp.Errorf(errOutOfStock, "only 3 %s left", in.Name)
			}
			return in, nil
		}))
	})
	c := dial(t, s, newDevice(t, "alice", "phone-1").options())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	t.Run("json round trip", func(t *testing.T) {
		got, err := client.CallTyped[item](ctx, c, codec.JSON{}, "echo", item{Name: "mead", Qty: 2})
		if err != nil || got != (item{Name: "mead", Qty: 2}) {
			t.Fatalf("CallTyped = %+v, %v", got, err)
		}
		ptr, err := client.CallTyped[*item](ctx, c, codec.JSON{}, "reserve", item{Name: "ale", Qty: 1})
		if err != nil || ptr == nil || *ptr != (item{Name: "ale", Qty: 1}) {
			t.Fatalf("CallTyped[*item] = %+v, %v", ptr, err)
		}
	})
	t.Run("proto round trip", func(t *testing.T) {
		got, err := client.CallTyped[*wrapperspb.StringValue](ctx, c, codec.Proto{}, "echo", wrapperspb.String("Huginn"))
		if err != nil || got.GetValue() != "Huginn" {
			t.Fatalf("CallTyped = %v, %v", got, err)
		}
	})
	t.Run("server errors pass through", func(t *testing.T) {
		_, err := client.CallTyped[item](ctx, c, codec.JSON{}, "reserve", item{Name: "mead", Qty: 9})
		e, ok := errors.AsType[*envelope.Error](err)
		if !ok || e.Code() != errOutOfStock || e.Message() != "only 3 mead left" || !errors.Is(err, errOutOfStock) {
			t.Fatalf("err = %v, want OUT_OF_STOCK: only 3 mead left", err)
		}
		_, err = client.CallTyped[item](ctx, c, codec.JSON{}, "nowhere", item{})
		if envelope.CodeOf(err) != envelope.CodeUnknownService {
			t.Fatalf("err = %v, want UNKNOWN_SERVICE", err)
		}
		// The server refuses what it cannot decode: SCHEMA_INVALID, not
		// the client's INTERNAL.
		_, err = client.CallTyped[item](ctx, c, codec.JSON{}, "reserve", map[string]any{"name": "mead", "colour": "gold"})
		if envelope.CodeOf(err) != envelope.CodeSchemaInvalid {
			t.Fatalf("err = %v, want SCHEMA_INVALID", err)
		}
	})
	t.Run("answer does not decode", func(t *testing.T) {
		before := served.Load()
		// The echo answers with a field item does not have.
		_, err := client.CallTyped[item](ctx, c, codec.JSON{}, "count", map[string]any{"name": "mead", "colour": "gold"})
		if envelope.CodeOf(err) != envelope.CodeInternal || client.Retryable(err) {
			t.Fatalf("err = %v, want INTERNAL, not retryable", err)
		}
		if !strings.Contains(err.Error(), "count") || !strings.Contains(err.Error(), "json") || !strings.Contains(err.Error(), "unknown field") {
			t.Fatalf("err = %v does not name the service, the codec and the cause", err)
		}
		if served.Load() != before+1 {
			t.Fatal("the call was not served")
		}
	})
	t.Run("request does not encode", func(t *testing.T) {
		before := served.Load()
		_, err := client.CallTyped[item](ctx, c, codec.Proto{}, "count", item{Name: "not a message"})
		if envelope.CodeOf(err) != envelope.CodeInternal || !strings.Contains(err.Error(), "proto.Message") {
			t.Fatalf("err = %v, want INTERNAL naming the cause", err)
		}
		// Nothing was sent: the next call is the only one served.
		if _, err := c.Call(ctx, "count", nil); err != nil {
			t.Fatal(err)
		}
		if got := served.Load(); got != before+1 {
			t.Fatalf("served %d calls, want 1", got-before)
		}
	})
	t.Run("call errors pass through", func(t *testing.T) {
		done, stop := context.WithCancel(ctx)
		stop()
		_, err := client.CallTyped[item](done, c, codec.JSON{}, "echo", item{})
		if !errors.Is(err, context.Canceled) || envelope.CodeOf(err) != envelope.CodeUnavailable {
			t.Fatalf("err = %v, want UNAVAILABLE wrapping context.Canceled", err)
		}
	})
}
