package yggdrasil_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/api"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/exchange"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/yggdrasil"
)

// serve runs s.Serve on a loopback port, as example/server does, until the
// returned stop is called; stop returns Serve's result.
func serve(t *testing.T, cfg yggdrasil.Config) (addr string, stop func() error) {
	t.Helper()
	s, err := yggdrasil.New(t.Context(), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	var result error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-served:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return within 10 s of its context ending")
			}
			s.Close()
		}
		return result
	}
	t.Cleanup(func() { stop() })
	return ln.Addr().String(), stop
}

// TestServeShutdown shows the graceful shutdown a SIGTERM starts in
// example/server: a connected device gets DISCONNECT SERVER_SHUTDOWN.
func TestServeShutdown(t *testing.T) {
	t.Parallel()
	addr, stop := serve(t, yggdrasil.Config{ShutdownTimeout: 5 * time.Second})
	c := dial(t, "ws://"+addr+"/ratatoskr", "alice", "phone-1")
	if code := callJSON(t, c, api.ServiceEcho, []byte("before"), nil); code != "" {
		t.Fatalf("echo: %s", code)
	}

	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the client is still connected after the shutdown")
	}
	if code := envelope.CodeOf(c.Err()); code != envelope.CodeServerShutdown {
		t.Errorf("client.Err() = %v, want code %s", c.Err(), envelope.CodeServerShutdown)
	}
	if _, err := c.Call(t.Context(), api.ServiceEcho, []byte("after")); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Call after shutdown: %v, want ErrClosed", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("the listener still accepts connections")
	}
}

// TestServeTLS runs the exchange over wss:// with -tls-cert/-tls-key and
// checks that only TLS 1.3 is offered.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, roots := selfSigned(t)
	addr, stop := serve(t, yggdrasil.Config{TLSCertFile: certFile, TLSKeyFile: keyFile})

	cfg := devExchange("wss://"+addr+"/ratatoskr", "alice")
	cfg.TLSConfig = &tls.Config{RootCAs: roots}
	var out bytes.Buffer
	if err := exchange.Run(t.Context(), cfg, &out); err != nil {
		t.Fatalf("Run over wss: %v\noutput:\n%s", err, out.String())
	}

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("GET https /healthz = %d over TLS %x, want 200 over TLS 1.3", resp.StatusCode, resp.TLS.Version)
	}

	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS12})
	if err == nil {
		conn.Close()
		t.Error("a TLS 1.2 handshake succeeded")
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key to
// a temporary directory, and returns a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "yggdrasil.test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, roots
}
