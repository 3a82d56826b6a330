package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	if got := String("short", 8); got != "short" {
		t.Fatalf("short: %q", got)
	}
	if got := String("12345678", 8); got != "12345678" {
		t.Fatalf("exact: %q", got)
	}
	long := strings.Repeat("a", 512<<10)
	got := String(long, 100)
	if !strings.HasPrefix(got, strings.Repeat("a", 100)+"…[cut, 524288 bytes in all]") || len(got) > 200 {
		t.Fatalf("long: %q", got)
	}
	// A multi-byte rune across the cut is dropped whole.
	got = String("ab€€€", 4)
	if !utf8.ValidString(got) || !strings.HasPrefix(got, "ab…") {
		t.Fatalf("utf-8: %q", got)
	}
}
