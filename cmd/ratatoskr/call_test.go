package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCall(t *testing.T) {
	url := newServer(t)
	base, tok := device(t)
	key := base + ".key"

	t.Run("json", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "", "call", "-url", url, "-key", key, "-token-file", tok, "-sub", "alice", "-device", "phone-1", "--json", "echo", "héllo")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var r callResult
		decodeJSON(t, stdout, &r)
		if !r.Success || r.Payload == nil || *r.Payload != "héllo" || r.Metadata["echoed"] != "yes" || r.RequestID == "" {
			t.Errorf("result %+v", r)
		}
	})
	t.Run("human, claims from the token, env token", func(t *testing.T) {
		b, _ := os.ReadFile(tok)
		t.Setenv("RATATOSKR_TOKEN", string(b))
		code, stdout, stderr := runCLI(t, "", "call", "-url", url, "-key", key, "echo", "hi")
		if code != exitOK || stdout != "hi\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("payload from stdin, -n, -v", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "from stdin", "call", "-url", url, "-key", key, "-token-file", tok, "-d", "-", "-n", "3", "-v", "-m", "trace=1", "echo")
		if code != exitOK || stdout != strings.Repeat("from stdin\n", 3) {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		// protojson varies its spacing on purpose: compare without it.
		flat := strings.Join(strings.Fields(stderr), "")
		for _, want := range []string{"*connected", `>{`, `"messageType":"BUSINESS_REQUEST"`, `<{`, `"trace":"1"`, `"success":true`} {
			if !strings.Contains(flat, want) {
				t.Errorf("-v output lacks %q:\n%s", want, stderr)
			}
		}
	})
	t.Run("payload from file, binary", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "p")
		os.WriteFile(f, []byte{0xff, 0x00, 0x01}, 0o600)
		code, stdout, stderr := runCLI(t, "", "call", "-url", url, "-key", key, "-token-file", tok, "-d", "@"+f, "--json", "echo")
		var r callResult
		decodeJSON(t, stdout, &r)
		if code != exitOK || r.Payload != nil || r.PayloadBase64 != "/wAB" {
			t.Fatalf("exit %d, %+v, stderr %q", code, r, stderr)
		}
	})
	t.Run("extra headers", func(t *testing.T) {
		code, _, stderr := runCLI(t, "", "call", "-url", url, "-key", key, "-token-file", tok, "-H", "X-Trace: 7", "-H", "User-Agent: ratatoskr-cli", "echo", "x")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	})
}

func TestCallRefusals(t *testing.T) {
	url := newServer(t)
	base, tok := device(t)
	other, _ := device(t) // another device key: the token does not bind it
	_, expired := device(t, "-ttl", "-1h")

	tests := []struct {
		name      string
		args      []string
		wantCodes []string
	}{
		{"unknown service", []string{"-key", base + ".key", "-token-file", tok, "nosuch"}, []string{"UNKNOWN_SERVICE"}},
		{"wrong key", []string{"-key", other + ".key", "-token-file", tok, "echo"}, []string{"AUTH_FAILED", "SIGNATURE_INVALID"}},
		{"expired token", []string{"-key", base + ".key", "-token-file", expired, "echo"}, []string{"AUTH_FAILED"}},
		{"identity mismatch", []string{"-key", base + ".key", "-token-file", tok, "-sub", "mallory", "echo"}, []string{"AUTH_FAILED", "IDENTITY_MISMATCH"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"call", "-url", url}, tt.args...)
			code, stdout, stderr := runCLI(t, "", args...)
			if code != exitRefused {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, exitRefused, stdout, stderr)
			}
			if !containsAny(stderr, tt.wantCodes) {
				t.Errorf("stderr %q names none of %v", stderr, tt.wantCodes)
			}
		})
	}
	t.Run("unknown service json", func(t *testing.T) {
		code, stdout, _ := runCLI(t, "", "call", "-url", url, "-key", base+".key", "-token-file", tok, "--json", "nosuch")
		var r callResult
		decodeJSON(t, stdout, &r)
		if code != exitRefused || r.Success || r.ErrorCode != "UNKNOWN_SERVICE" {
			t.Errorf("exit %d, %+v", code, r)
		}
	})
}

func TestCallServerDown(t *testing.T) {
	t.Setenv("RATATOSKR_JWT_SECRET", testSecret)
	base, tok := device(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	code, stdout, stderr := runCLI(t, "", "call", "-url", "ws://"+addr+"/ratatoskr", "-key", base+".key", "-token-file", tok, "--json", "echo")
	if code != exitTransport || stdout != "" || stderr == "" {
		t.Errorf("exit %d, want %d; stdout %q stderr %q", code, exitTransport, stdout, stderr)
	}
}

func TestCallBadInput(t *testing.T) {
	t.Setenv("RATATOSKR_JWT_SECRET", testSecret)
	base, tok := device(t)
	garbage := filepath.Join(t.TempDir(), "garbage.key")
	os.WriteFile(garbage, []byte("not a key"), 0o600)
	tests := []struct {
		name string
		args []string
	}{
		{"garbage key", []string{"-key", garbage, "-token-file", tok, "echo"}},
		{"public key as private", []string{"-key", base + ".pub", "-token-file", tok, "echo"}},
		{"no token", []string{"-key", base + ".key", "echo"}},
		{"bad header", []string{"-key", base + ".key", "-token-file", tok, "-H", "nocolon", "echo"}},
		{"payload twice", []string{"-key", base + ".key", "-token-file", tok, "-d", "x", "echo", "y"}},
		{"bad metadata", []string{"-key", base + ".key", "-token-file", tok, "-m", "novalue", "echo"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("RATATOSKR_TOKEN", "")
			code, _, stderr := runCLI(t, "", append([]string{"call", "-url", "ws://127.0.0.1:1/x"}, tt.args...)...)
			if code != exitUsage || stderr == "" {
				t.Errorf("exit %d, stderr %q", code, stderr)
			}
		})
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
