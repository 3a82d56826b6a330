package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// testSecret is the HS256 secret of the test servers.
const testSecret = "cli-test-secret-0123456789-abcdefghijklmnop"

// runCLI runs the command as a user would and returns its exit code and
// output.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// newServer starts an endpoint with an echo service, verifying tokens with
// testSecret, and sets RATATOSKR_JWT_SECRET to it. It returns the ws:// URL.
func newServer(t *testing.T) string {
	t.Helper()
	t.Setenv("RATATOSKR_JWT_SECRET", testSecret)
	a, err := auth.NewJWT(auth.WithHMACSecret([]byte(testSecret)))
	if err != nil {
		t.Fatal(err)
	}
	h := ratatoskrhttp.New(&ratatoskrhttp.Options{Authenticator: a})
	h.HandleFunc("echo", func(ctx context.Context, r *ratatoskrhttp.Request) (*ratatoskrhttp.Response, error) {
		return &ratatoskrhttp.Response{Payload: r.Payload, Metadata: map[string]string{"echoed": "yes"}}, nil
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// device makes a key pair and a token for alice/phone-1 in a temporary
// directory and returns the base name of the key files and the token file.
func device(t *testing.T, tokenArgs ...string) (base, tokFile string) {
	t.Helper()
	dir := t.TempDir()
	base = filepath.Join(dir, "device")
	if code, _, stderr := runCLI(t, "", "keygen", "-out", base); code != 0 {
		t.Fatalf("keygen: exit %d: %s", code, stderr)
	}
	args := append([]string{"token", "-sub", "alice", "-device", "phone-1", "-device-key", base + ".pub"}, tokenArgs...)
	code, tok, stderr := runCLI(t, "", args...)
	if code != 0 {
		t.Fatalf("token: exit %d: %s", code, stderr)
	}
	tokFile = filepath.Join(dir, "tok")
	if err := os.WriteFile(tokFile, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	return base, tokFile
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"help", "call"}, {"help", "keygen"}, {"help", "token"}, {"help", "decode"}} {
		code, stdout, _ := runCLI(t, "", args...)
		if code != exitOK || !strings.Contains(stdout, "usage") && !strings.Contains(stdout, "Usage") {
			t.Errorf("%q: exit %d, stdout %q", args, code, stdout)
		}
	}
	code, stdout, _ := runCLI(t, "", "help")
	if !strings.Contains(stdout, "Exit codes") {
		t.Errorf("help does not document exit codes:\n%s", stdout)
	}
	for _, name := range []string{"keygen", "token", "call", "decode"} {
		code, _, stderr := runCLI(t, "", name, "-h")
		if code != exitOK || !strings.Contains(stderr, "Examples:") || !strings.Contains(stderr, "Flags:") {
			t.Errorf("%s -h: exit %d, stderr %q", name, code, stderr)
		}
	}
	_ = code
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"frobnicate"}},
		{"unknown flag", []string{"keygen", "-frob"}},
		{"bad flag value", []string{"call", "-n", "many", "echo"}},
		{"help of unknown command", []string{"help", "frobnicate"}},
		{"token without sub", []string{"token", "-device", "phone-1"}},
		{"call without service", []string{"call", "-key", "x.key"}},
		{"call without key", []string{"call", "echo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stdout %q stderr %q", code, exitUsage, stdout, stderr)
			}
			if stderr == "" {
				t.Error("nothing on stderr")
			}
		})
	}
}

func TestBenchRegistered(t *testing.T) {
	code, _, stderr := runCLI(t, "", "bench", "-h")
	if benchCmd == nil && (code != exitUsage || !strings.Contains(stderr, "not built")) {
		t.Errorf("bench without bench.go: exit %d, stderr %q", code, stderr)
	}
}

// decodeJSON parses one JSON object.
func decodeJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
}
