package yggdrasil_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/api"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/yggdrasil"
)

// With a response key and v2 required, as the -response-key-file and
// -require-signature-v2 flags set them, a client that knows the key gets
// verified answers on a v2 session.
func TestSignedServer(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	ts := newTestServer(t, yggdrasil.Config{ResponseKeyPEM: keyPEM, RequireSignatureV2: true})

	devPub, devKey, _ := ed25519.GenerateKey(nil)
	c := dialWith(t, ts.url, &client.Options{UserID: "alice", DeviceID: "phone", PrivateKey: devKey,
		Token: mintDev(t, "alice", "phone", devPub), ServerKeys: []ed25519.PublicKey{pub}})
	if c.Scheme() != envelope.SchemeV2 {
		t.Fatalf("scheme %v", c.Scheme())
	}
	if code := callJSON(t, c, api.ServiceEcho, []byte("signed"), nil); code != "" {
		t.Fatalf("echo: %s", code)
	}

	if _, err := yggdrasil.New(t.Context(), yggdrasil.Config{ResponseKeyPEM: []byte("not a key")}, nil); err == nil {
		t.Fatal("a malformed response key was accepted")
	}
}
