package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDemo runs what `make demo` runs.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, io.Discard); err != nil {
		t.Fatalf("demo: %v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{"answered 200 ok", "PAYMENT_DECLINED", "Disconnected politely", `"alice's workshop" registered over Ratatoskr`, "Server shut down gracefully."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
