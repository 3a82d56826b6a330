package codec_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/ratatoskr-proto/ratatoskr/codec"
)

type order struct {
	Item string `json:"item"`
	Qty  int    `json:"qty"`
}

func TestJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     order
		err      string // a substring of the error; "" for none
	}{
		{"ok", `{"item":"mead","qty":2}`, order{"mead", 2}, ""},
		{"trailing white space", " {\"item\":\"mead\"}\n\t", order{Item: "mead"}, ""},
		{"unknown field", `{"item":"mead","price":3}`, order{}, "unknown field"},
		{"trailing value", `{"item":"mead"}{}`, order{}, "trailing data"},
		{"trailing garbage", `{"item":"mead"} x`, order{}, "trailing data"},
		{"wrong type", `{"qty":"two"}`, order{}, "cannot unmarshal"},
		{"empty", ``, order{}, "empty payload"},
		{"garbage", `\x00\x01`, order{}, "invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := codec.Decode[order](codec.JSON{}, []byte(tc.in))
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("Decode = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Decode error = %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestDecodePointer(t *testing.T) {
	t.Parallel()
	b, err := codec.JSON{}.Marshal(order{"mead", 2})
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.Decode[*order](codec.JSON{}, b)
	if err != nil || got == nil || *got != (order{"mead", 2}) {
		t.Fatalf("Decode[*order] = %+v, %v", got, err)
	}
}

func TestProto(t *testing.T) {
	t.Parallel()
	b, err := codec.Proto{}.Marshal(wrapperspb.String("mead"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := codec.Decode[*wrapperspb.StringValue](codec.Proto{}, b)
	if err != nil || got.GetValue() != "mead" {
		t.Fatalf("Decode = %v, %v", got, err)
	}
	if _, err := codec.Decode[*wrapperspb.StringValue](codec.Proto{}, []byte{0xff, 0xff}); err == nil {
		t.Fatal("garbage decoded")
	}
	if _, err := (codec.Proto{}).Marshal(order{}); err == nil || !strings.Contains(err.Error(), "not a proto.Message") {
		t.Fatalf("Marshal(non-message) error = %v", err)
	}
	if _, err := codec.Decode[order](codec.Proto{}, b); err == nil {
		t.Fatal("Decode into a non-message succeeded")
	}
	var nilMsg *wrapperspb.StringValue
	if err := (codec.Proto{}).Unmarshal(b, nilMsg); err == nil {
		t.Fatal("Unmarshal into a nil message succeeded")
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	for c, want := range map[codec.Codec]string{codec.JSON{}: "json", codec.Proto{}: "proto"} {
		if got := c.Name(); got != want {
			t.Errorf("Name() = %q, want %q", got, want)
		}
	}
}
