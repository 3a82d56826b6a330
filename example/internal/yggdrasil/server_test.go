package yggdrasil_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/api"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/devsecret"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/exchange"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/yggdrasil"
)

func devExchange(url, user string) exchange.Config {
	return exchange.Config{URL: url, UserID: user, DeviceID: "phone-1", Secret: []byte(devsecret.Secret)}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, yggdrasil.Config{})
	resp, err := ts.srv.Client().Get(ts.srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("GET /healthz = %d %q, want 200 \"ok\"", resp.StatusCode, body)
	}
}

func TestRatatoskrNeedsUpgrade(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, yggdrasil.Config{})
	resp, err := ts.srv.Client().Get(ts.srv.URL + "/ratatoskr")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("plain GET /ratatoskr = %d, want a refusal", resp.StatusCode)
	}
}

// TestExchange runs the device's whole exchange; Run itself checks each
// answer, the output shows each step happened.
func TestExchange(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, yggdrasil.Config{})
	var out bytes.Buffer
	if err := exchange.Run(t.Context(), devExchange(ts.url, "alice"), &out); err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{
		"made an Ed25519 key pair",
		"Minted a device token (HS256",
		"Connected to " + ts.url,
		`echo: sent "hello, Yggdrasil" and got "hello, Yggdrasil" back`,
		"nornen: 3 offers",
		`nornen: registered provider "alice's workshop" as prv-4, owned by alice`,
		"heidrun: charged 12.50 EUR, payment pay_",
		"declined, as expected, with code PAYMENT_DECLINED",
		"Heartbeat answered",
		"Disconnected politely",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// Running it again is fine: registering a provider is idempotent for
	// its owner, and every request carries a fresh nonce.
	out.Reset()
	if err := exchange.Run(t.Context(), devExchange(ts.url, "alice"), &out); err != nil {
		t.Fatalf("second Run: %v\noutput:\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `already had provider "alice's workshop" as prv-4`) {
		t.Errorf("second run output:\n%s", out.String())
	}

	// The REST side sees the provider registered over Ratatoskr.
	var providers api.Providers
	getJSON(t, ts.srv.Client(), ts.srv.URL+"/api/providers", &providers)
	if n := len(providers.Providers); n != 4 || providers.Providers[3].Owner != "alice" {
		t.Errorf("GET /api/providers = %+v, want the 3 demo providers and alice's", providers.Providers)
	}
	// The server releases a session just after the device sees it close.
	for deadline := time.Now().Add(5 * time.Second); ts.s.Ratatoskr().Sessions() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left after the exchanges disconnected", ts.s.Ratatoskr().Sessions())
		}
	}
}

func TestRESTOffers(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, yggdrasil.Config{})
	var offers api.Offers
	getJSON(t, ts.srv.Client(), ts.srv.URL+"/api/offers", &offers)
	if len(offers.Offers) != 3 {
		t.Fatalf("GET /api/offers = %+v, want 3 offers", offers)
	}
}

func getJSON(t *testing.T, hc *http.Client, url string, v any) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func TestNornen(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, yggdrasil.Config{})
	alice := dial(t, ts.url, "alice", "phone-1")
	bob := dial(t, ts.url, "bob", "laptop")

	var reg api.Registered
	if code := callJSON(t, alice, api.ServiceNornen, api.NornenRequest{Action: api.ActionRegisterProvider, Name: "Mimir's Well"}, &reg); code != "" {
		t.Fatalf("register: %s", code)
	}
	if !reg.Created || reg.Provider.Owner != "alice" || reg.Provider.Category != "general" {
		t.Fatalf("register answered %+v", reg)
	}

	for _, tc := range []struct {
		name    string
		c       *client.Client
		payload any
		want    envelope.Code
	}{
		{"list offers", alice, api.NornenRequest{Action: api.ActionListOffers}, ""},
		{"list providers", bob, api.NornenRequest{Action: api.ActionListProviders}, ""},
		{"owner registers again", alice, api.NornenRequest{Action: api.ActionRegisterProvider, Name: "mimir's well"}, ""},
		{"name taken by another user", bob, api.NornenRequest{Action: api.ActionRegisterProvider, Name: "Mimir's Well"}, api.CodeProviderExists},
		{"not JSON", alice, []byte("list offers please"), api.CodeInvalidRequest},
		{"empty payload", alice, []byte{}, api.CodeInvalidRequest},
		{"trailing data", alice, []byte(`{"action":"list_offers"} {}`), api.CodeInvalidRequest},
		{"unknown field", alice, []byte(`{"action":"list_offers","page":2}`), api.CodeInvalidRequest},
		{"no action", alice, api.NornenRequest{}, api.CodeInvalidRequest},
		{"unknown action", alice, api.NornenRequest{Action: "buy_everything"}, api.CodeInvalidRequest},
		{"blank name", alice, api.NornenRequest{Action: api.ActionRegisterProvider, Name: "   "}, api.CodeInvalidRequest},
		{"name too long", alice, api.NornenRequest{Action: api.ActionRegisterProvider, Name: strings.Repeat("ᚱ", api.MaxProviderName+1)}, api.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := callJSON(t, tc.c, api.ServiceNornen, tc.payload, nil); got != tc.want {
				t.Fatalf("code %q, want %q", got, tc.want)
			}
		})
	}
	// A refused request leaves the connection usable.
	if code := callJSON(t, alice, api.ServiceEcho, []byte("still here"), nil); code != "" {
		t.Fatalf("echo after errors: %s", code)
	}
}

func TestHeidrun(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, yggdrasil.Config{})
	alice := dial(t, ts.url, "alice", "phone-1")
	bob := dial(t, ts.url, "bob", "laptop")

	t.Run("declined", func(t *testing.T) {
		b, _ := json.Marshal(api.HeidrunRequest{Action: api.ActionCharge, AmountCents: api.MaxChargeCents + 1, Currency: "EUR"})
		_, err := alice.Call(t.Context(), api.ServiceHeidrun, b)
		var e *envelope.Error
		if !errors.As(err, &e) || e.Code() != api.CodePaymentDeclined {
			t.Fatalf("charge over the limit: %v, want %s", err, api.CodePaymentDeclined)
		}
		if e.Kind() != envelope.KindApplication || !strings.Contains(e.Message(), "500.01 EUR exceeds the limit of 500.00 EUR") {
			t.Errorf("declined error: kind %v, message %q", e.Kind(), e.Message())
		}
	})

	for _, tc := range []struct {
		name string
		req  api.HeidrunRequest
		want envelope.Code
	}{
		{"at the limit", api.HeidrunRequest{Action: api.ActionCharge, AmountCents: api.MaxChargeCents, Currency: "NOK"}, ""},
		{"zero amount", api.HeidrunRequest{Action: api.ActionCharge, Currency: "EUR"}, api.CodeInvalidRequest},
		{"negative amount", api.HeidrunRequest{Action: api.ActionCharge, AmountCents: -5, Currency: "EUR"}, api.CodeInvalidRequest},
		{"unsupported currency", api.HeidrunRequest{Action: api.ActionCharge, AmountCents: 100, Currency: "GOLD"}, api.CodeInvalidRequest},
		{"unknown action", api.HeidrunRequest{Action: "refund"}, api.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := callJSON(t, alice, api.ServiceHeidrun, tc.req, nil); got != tc.want {
				t.Fatalf("code %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("payments are per user", func(t *testing.T) {
		var pay api.Payment
		if code := callJSON(t, bob, api.ServiceHeidrun, api.HeidrunRequest{Action: api.ActionCharge, AmountCents: 999, Currency: "SEK"}, &pay); code != "" {
			t.Fatalf("charge: %s", code)
		}
		if pay.Status != "captured" || !strings.HasPrefix(pay.ID, "pay_") || pay.AmountCents != 999 || pay.Currency != "SEK" {
			t.Fatalf("charge answered %+v", pay)
		}
		var bobs, alices api.Payments
		callJSON(t, bob, api.ServiceHeidrun, api.HeidrunRequest{Action: api.ActionListPayments}, &bobs)
		callJSON(t, alice, api.ServiceHeidrun, api.HeidrunRequest{Action: api.ActionListPayments}, &alices)
		if len(bobs.Payments) != 1 || bobs.Payments[0].ID != pay.ID {
			t.Errorf("bob's payments: %+v, want only %s", bobs.Payments, pay.ID)
		}
		if len(alices.Payments) != 1 || alices.Payments[0].Currency != "NOK" {
			t.Errorf("alice's payments: %+v, want her one NOK charge", alices.Payments)
		}
	})
}

func TestUnknownService(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, yggdrasil.Config{})
	c := dial(t, ts.url, "alice", "phone-1")
	if code := callJSON(t, c, "valhalla", []byte("{}"), nil); code != envelope.CodeUnknownService {
		t.Fatalf("code %q, want %s", code, envelope.CodeUnknownService)
	}
}

// TestRedisNonces runs the exchange with nonces in Redis (miniredis), as
// -redis does, and shows that two replicas sharing it refuse a request
// replayed from one to the other.
func TestRedisNonces(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	cfg := yggdrasil.Config{RedisURL: "redis://" + mr.Addr() + "/0"}
	a := newTestServer(t, cfg)
	b := newTestServer(t, cfg)

	var out bytes.Buffer
	if err := exchange.Run(t.Context(), devExchange(a.url, "alice"), &out); err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out.String())
	}
	keys := mr.Keys()
	if len(keys) != 8 { // one per signed request: handshake, 5 calls, heartbeat, disconnect
		t.Fatalf("redis holds %d keys after the exchange, want one per request: %q", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "ratatoskr:nonce:") || mr.TTL(k) <= 0 {
			t.Errorf("key %q (ttl %v) is not an expiring nonce", k, mr.TTL(k))
		}
	}

	// One device connected to both replicas sends the same signed request
	// to each: the second is a replay.
	pub, key, _ := ed25519.GenerateKey(nil)
	token := mintDev(t, "carol", "tablet", pub)
	o := &client.Options{UserID: "carol", DeviceID: "tablet", PrivateKey: key, Token: token}
	ca, cb := dialWith(t, a.url, o), dialWith(t, b.url, o)
	signer := &envelope.Signer{UserID: "carol", DeviceID: "tablet", Key: key, Scheme: ca.Scheme()}
	req, err := signer.Business(api.ServiceEcho, []byte("pay once"), nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := ca.Send(t.Context(), req)
	if err != nil || !first.GetSuccess() {
		t.Fatalf("first send: %v %v", first, err)
	}
	second, err := cb.Send(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if second.GetSuccess() || second.GetErrorCode() != string(envelope.CodeReplayDetected) {
		t.Fatalf("replay on the other replica answered success=%v code=%q, want %s", second.GetSuccess(), second.GetErrorCode(), envelope.CodeReplayDetected)
	}
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel() // go-redis retries the dial for a second or two
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	s, err := yggdrasil.New(ctx, yggdrasil.Config{RedisURL: "redis://" + addr}, testLogger(t))
	if err == nil {
		s.Close()
		t.Fatal("New succeeded without a Redis server")
	}
	t.Logf("New failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  yggdrasil.Config
	}{
		{"short secret", yggdrasil.Config{JWTSecret: []byte("too short")}},
		{"not a public key", yggdrasil.Config{JWTPublicKeyPEM: []byte("-----BEGIN NOTHING-----\n-----END NOTHING-----\n")}},
		{"cert without key", yggdrasil.Config{TLSCertFile: "cert.pem"}},
		{"missing cert files", yggdrasil.Config{TLSCertFile: "/nonexistent/cert.pem", TLSKeyFile: "/nonexistent/key.pem"}},
		{"bad redis URL", yggdrasil.Config{RedisURL: "http://localhost:6379"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := yggdrasil.New(t.Context(), tc.cfg, testLogger(t))
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
		})
	}
}

// TestIssuerPublicKey configures the server with an issuer's public key,
// issuer and audience (-jwt-public-key, -jwt-issuer, -jwt-audience), as in
// production, where the platform's identity service mints device tokens.
func TestIssuerPublicKey(t *testing.T) {
	t.Parallel()
	edPub, edKey, _ := ed25519.GenerateKey(nil)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var pemKeys []byte
	for _, pub := range []any{edPub, &ecKey.PublicKey} {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		pemKeys = append(pemKeys, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	ts := newTestServer(t, yggdrasil.Config{
		JWTPublicKeyPEM: pemKeys,
		JWTIssuer:       "https://id.yggdrasil.example",
		JWTAudience:     "ratatoskr",
	})

	for _, tc := range []struct {
		name     string
		cfg      exchange.Config
		wantCode envelope.Code
	}{
		{"EdDSA", exchange.Config{SigningKey: edKey, Issuer: "https://id.yggdrasil.example", Audience: "ratatoskr"}, ""},
		{"ES256", exchange.Config{SigningKey: ecKey, Issuer: "https://id.yggdrasil.example", Audience: "ratatoskr"}, ""},
		{"wrong audience", exchange.Config{SigningKey: edKey, Issuer: "https://id.yggdrasil.example", Audience: "billing"}, envelope.CodeAuthFailed},
		{"no issuer", exchange.Config{SigningKey: edKey, Audience: "ratatoskr"}, envelope.CodeAuthFailed},
		{"dev secret is not accepted", exchange.Config{Secret: []byte(devsecret.Secret), Issuer: "https://id.yggdrasil.example", Audience: "ratatoskr"}, envelope.CodeAuthFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.URL, cfg.UserID, cfg.DeviceID = ts.url, "alice", "phone-1"
			var out bytes.Buffer
			err := exchange.Run(t.Context(), cfg, &out)
			if got := envelope.CodeOf(err); got != tc.wantCode {
				t.Fatalf("Run: %v (code %q), want code %q\noutput:\n%s", err, got, tc.wantCode, out.String())
			}
		})
	}
}

// addrListener reports a different address than the one it listens on, so
// the test can show Serve a non-loopback address without exposing anything.
type addrListener struct {
	net.Listener
	addr net.Addr
}

func (l addrListener) Addr() net.Addr { return l.addr }

// With the public development secret, the server refuses to serve on a
// non-loopback address, and says which flag to set; with a secret of its
// own, it does not refuse.
func TestDevSecretRefusedOffLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		cfg     yggdrasil.Config
		refused bool
	}{
		{"embedded default", yggdrasil.Config{}, true},
		{"dev secret given explicitly", yggdrasil.Config{JWTSecret: []byte(devsecret.Secret)}, true},
		{"own secret", yggdrasil.Config{JWTSecret: []byte("a-deployment-secret-of-32-bytes-or-more")}, false},
	} {
		for _, ip := range []string{"0.0.0.0", "192.0.2.10", "::"} {
			t.Run(tc.name+"/"+ip, func(t *testing.T) {
				s, err := yggdrasil.New(t.Context(), tc.cfg, testLogger(t))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				ctx, cancel := context.WithCancel(t.Context())
				cancel() // a Serve that starts shuts down at once
				err = s.Serve(ctx, addrListener{ln, &net.TCPAddr{IP: net.ParseIP(ip), Port: 8080}})
				refused := err != nil && strings.Contains(err.Error(), "-jwt-secret")
				if refused != tc.refused {
					t.Fatalf("Serve on %s: %v, refused=%v, want %v", ip, err, refused, tc.refused)
				}
			})
		}
	}
}
