package main

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
	"google.golang.org/protobuf/proto"
)

// signedFrame returns a business request signed by the key in base.key.
func signedFrame(t *testing.T, base string, scheme envelope.Scheme) []byte {
	t.Helper()
	key, err := readDevicePrivateKey(base + ".key")
	if err != nil {
		t.Fatal(err)
	}
	s := &envelope.Signer{DeviceID: "phone-1", UserID: "alice", Key: key, Scheme: scheme}
	req, err := s.Business("echo", []byte("hi"), map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecode(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "device")
	runCLI(t, "", "keygen", "-out", base)
	other := filepath.Join(dir, "other")
	runCLI(t, "", "keygen", "-out", other)

	for _, scheme := range []envelope.Scheme{envelope.SchemeV1, envelope.SchemeV2} {
		frame := signedFrame(t, base, scheme)
		inputs := map[string]string{
			"binary": string(frame),
			"hex":    hex.EncodeToString(frame) + "\n",
			"base64": base64.StdEncoding.EncodeToString(frame),
		}
		for format, in := range inputs {
			t.Run(scheme.String()+"/"+format, func(t *testing.T) {
				for _, f := range []string{"auto", format} {
					code, stdout, stderr := runCLI(t, in, "decode", "-format", f, "-pub", base+".pub", "--json")
					if code != exitOK {
						t.Fatalf("-format %s: exit %d: %s", f, code, stderr)
					}
					var r struct {
						Type      string
						Message   map[string]any
						Signature sigResult
					}
					decodeJSON(t, stdout, &r)
					if r.Type != "request" || r.Message["userId"] != "alice" || !r.Signature.Valid || r.Signature.Scheme != scheme.String() {
						t.Errorf("-format %s: %+v", f, r)
					}
				}
			})
		}
		t.Run(scheme.String()+"/wrong key", func(t *testing.T) {
			code, stdout, stderr := runCLI(t, string(frame), "decode", "-pub", other+".pub")
			if code != exitRefused || !strings.Contains(stdout, "INVALID") || !strings.Contains(stderr, "does not verify") {
				t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
		})
	}

	t.Run("response from file", func(t *testing.T) {
		resp := envelope.Success(pb.MessageType_BUSINESS_REQUEST, "req-1", []byte("ok"), nil, time.Now())
		b, _ := proto.Marshal(resp)
		f := filepath.Join(dir, "resp.bin")
		os.WriteFile(f, b, 0o600)
		code, stdout, stderr := runCLI(t, "", "decode", "-in", f)
		if code != exitOK || !strings.HasPrefix(stdout, "RatatoskrResponse") || !strings.Contains(stdout, "req-1") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name, in string
		args     []string
		want     string
	}{
		{"garbage", "\x00\x01\x02garbage\xff\xfe", nil, "neither"},
		{"text garbage", "hello, world", nil, "neither"},
		{"empty", "", nil, "empty"},
		{"bad hex", "zz", []string{"-format", "hex"}, "not hex"},
		{"bad base64", "!!!", []string{"-format", "base64"}, "not base64"},
		{"bad format", "00", []string{"-format", "rot13"}, "rot13"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.in, append([]string{"decode"}, tt.args...)...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q (want %q)", code, stdout, stderr, tt.want)
			}
		})
	}
}
