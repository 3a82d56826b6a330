package auth

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwksServer is an issuer's JWKS endpoint whose keys and health a test
// changes, and which counts the fetches it serves.
type jwksServer struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	keys   []map[string]any
	status int           // non-zero: answer this status instead of the set
	body   []byte        // non-nil: answer this body instead of the set
	delay  time.Duration // before answering
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, _ *http.Request) {
	s.hits.Add(1)
	s.mu.Lock()
	keys, status, body, delay := slices.Clone(s.keys), s.status, s.body, s.delay
	s.mu.Unlock()
	time.Sleep(delay)
	switch {
	case status != 0:
		http.Error(w, "issuer down", status)
	case body != nil:
		w.Write(body)
	default:
		w.Header().Set("Content-Type", "application/jwk-set+json")
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}
}

// publish replaces the keys the server serves.
func (s *jwksServer) publish(keys ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

// setBody makes the server answer body instead of the set.
func (s *jwksServer) setBody(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func (s *jwksServer) setDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

func (s *jwksServer) setStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

func (s *jwksServer) wantHits(t *testing.T, want int64) {
	t.Helper()
	if got := s.hits.Load(); got != want {
		t.Fatalf("the JWKS server was fetched %d times, want %d", got, want)
	}
}

// newRemote returns a verifier of the server's set, closed at cleanup.
func newRemote(t *testing.T, url string, o *RemoteJWKSOptions, opts ...Option) *JWT {
	t.Helper()
	a := newAuth(t, append([]Option{WithRemoteJWKS(url, o)}, opts...)...)
	t.Cleanup(func() { a.Close() })
	return a
}

// kidToken mints a valid token at testNow with the given "kid" header.
func kidToken(t *testing.T, m jwt.SigningMethod, key crypto.PrivateKey, kid string) string {
	t.Helper()
	o := mintOpts()
	o.KeyID = kid
	return mintT(t, m, key, o)
}

func wantOK(t *testing.T, a *JWT, token string) {
	t.Helper()
	if _, err := a.Authenticate(context.Background(), token); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
}

func wantUnavailable(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrUnavailable and not ErrInvalidToken", err)
	}
}

func TestRemoteJWKSRotation(t *testing.T) {
	t.Parallel()
	ecA := ecKeys()["P-256"]
	jwkA, jwkB := jwkOf(t, ecA.Public(), "a", nil), jwkOf(t, edKey().Public(), "b", nil)
	srv := newJWKSServer(t, jwkA)
	a := newRemote(t, srv.srv.URL, &RemoteJWKSOptions{RefreshUnknownKIDInterval: time.Hour})
	srv.wantHits(t, 1) // NewJWT's first fetch

	tokA := kidToken(t, jwt.SigningMethodES256, ecA, "a")
	for range 3 {
		wantOK(t, a, tokA)
	}
	srv.wantHits(t, 1) // served from the cache

	// The issuer adds key B: concurrent handshakes with kid B share one fetch.
	srv.publish(jwkA, jwkB)
	tokB := kidToken(t, jwt.SigningMethodEdDSA, edKey(), "b")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := a.Authenticate(context.Background(), tokB); err != nil {
				t.Errorf("kid b: %v", err)
			}
		})
	}
	wg.Wait()
	srv.wantHits(t, 2)
	wantOK(t, a, tokA)

	// A kid the issuer does not have: refused at once, without a fetch, as
	// the unknown-kid refresh is rate-limited.
	tokX := kidToken(t, jwt.SigningMethodEdDSA, otherEdKey(), "x")
	start := time.Now()
	for range 20 {
		_, err := a.Authenticate(context.Background(), tokX)
		wantInvalid(t, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("20 refusals took %v", d)
	}
	srv.wantHits(t, 2)
}

// TestRemoteJWKSSharedFetch checks that a handshake giving up does not
// cancel the fetch it caused, which the next handshakes share.
func TestRemoteJWKSSharedFetch(t *testing.T) {
	t.Parallel()
	jwkA := jwkOf(t, edKey().Public(), "a", nil)
	srv := newJWKSServer(t, jwkA)
	a := newRemote(t, srv.srv.URL, &RemoteJWKSOptions{RefreshUnknownKIDInterval: time.Hour})
	srv.publish(jwkA, jwkOf(t, otherEdKey().Public(), "b", nil))
	srv.setDelay(200 * time.Millisecond)
	tokB := kidToken(t, jwt.SigningMethodEdDSA, otherEdKey(), "b")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := a.Authenticate(ctx, tokB)
	wantUnavailable(t, err) // gave up waiting

	wantOK(t, a, tokB) // waits for the same fetch
	srv.wantHits(t, 2)
}

func TestRemoteJWKSUnknownKIDRateLimited(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, jwkOf(t, edKey().Public(), "a", nil))
	a := newRemote(t, srv.srv.URL, nil) // default interval: 1 min
	tokX := kidToken(t, jwt.SigningMethodEdDSA, otherEdKey(), "x")
	for i := range 50 {
		_, err := a.Authenticate(context.Background(), tokX)
		wantInvalid(t, err)
		if i == 0 {
			srv.wantHits(t, 2) // the first unknown kid refreshes once
		}
	}
	srv.wantHits(t, 2) // the others do not
	// Nor do tokens signed with an algorithm no remote key could have.
	_, err := a.Authenticate(context.Background(), kidToken(t, jwt.SigningMethodHS256, testSecret, "y"))
	wantInvalid(t, err)
	srv.wantHits(t, 2)
}

func TestRemoteJWKSRemovedKey(t *testing.T) {
	t.Parallel()
	ecA := ecKeys()["P-256"]
	jwkA, jwkB := jwkOf(t, ecA.Public(), "a", nil), jwkOf(t, edKey().Public(), "b", nil)
	srv := newJWKSServer(t, jwkA, jwkB)
	a := newRemote(t, srv.srv.URL, &RemoteJWKSOptions{RefreshInterval: 20 * time.Millisecond})
	tokA := kidToken(t, jwt.SigningMethodES256, ecA, "a")
	tokB := kidToken(t, jwt.SigningMethodEdDSA, edKey(), "b")
	wantOK(t, a, tokA)

	srv.publish(jwkB) // the issuer retires key A
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := a.Authenticate(context.Background(), tokA)
		if err != nil {
			wantInvalid(t, err)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a token of the removed key still verifies after 10 s of scheduled refreshes")
		}
		time.Sleep(5 * time.Millisecond)
	}
	wantOK(t, a, tokB)
	if n := srv.hits.Load(); n < 2 {
		t.Errorf("%d fetches, want the scheduled ones", n)
	}
}

func TestRemoteJWKSUnavailable(t *testing.T) {
	t.Parallel()
	ed := jwkOf(t, edKey().Public(), "a", nil)
	tokA := kidToken(t, jwt.SigningMethodEdDSA, edKey(), "a")
	tokNoKid := kidToken(t, jwt.SigningMethodEdDSA, edKey(), "")

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	huge := append([]byte(`{"keys":[],"pad":"`), bytes.Repeat([]byte("a"), maxJWKSSize)...)
	huge = append(huge, `"}`...)
	for _, tt := range []struct {
		name string
		url  func(t *testing.T) string
		want string // a fragment of the error
	}{
		{"refused", func(*testing.T) string { return closed.URL }, "refused"},
		{"503", func(t *testing.T) string { s := newJWKSServer(t, ed); s.setStatus(503); return s.srv.URL }, "503"},
		{"not JSON", func(t *testing.T) string { s := newJWKSServer(t); s.setBody([]byte("<html>")); return s.srv.URL }, "decode"},
		{"too large", func(t *testing.T) string { s := newJWKSServer(t); s.setBody(huge); return s.srv.URL }, "larger than"},
		{"redirect to plain http", func(t *testing.T) string {
			s := httptest.NewServer(http.RedirectHandler("http://issuer.example/jwks", http.StatusFound))
			t.Cleanup(s.Close)
			return s.URL
		}, "must be https"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			var mu sync.Mutex
			a := newRemote(t, tt.url(t), &RemoteJWKSOptions{Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))})
			for _, tok := range []string{tokA, tokNoKid, tokA} {
				_, err := a.Authenticate(context.Background(), tok)
				wantUnavailable(t, err)
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err = %v, want it to mention %q", err, tt.want)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if !strings.Contains(logs.String(), "fetching the JWKS failed") {
				t.Errorf("log = %q, want the failed fetch", logs.String())
			}
		})
	}

	t.Run("issuer goes down, then comes back", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, ed)
		a := newRemote(t, srv.srv.URL, &RemoteJWKSOptions{RefreshUnknownKIDInterval: 20 * time.Millisecond})
		srv.setStatus(http.StatusServiceUnavailable)
		wantOK(t, a, tokA) // cached
		tokB := kidToken(t, jwt.SigningMethodEdDSA, otherEdKey(), "b")
		_, err := a.Authenticate(context.Background(), tokB)
		wantUnavailable(t, err)

		srv.publish(ed, jwkOf(t, otherEdKey().Public(), "b", nil))
		srv.setStatus(0)
		time.Sleep(30 * time.Millisecond) // the rate limit's interval
		wantOK(t, a, tokB)
	})

	t.Run("issuer hangs: the wait is bounded", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) }) // before srv.Close, which waits for handlers
		start := time.Now()
		a := newRemote(t, srv.URL, &RemoteJWKSOptions{FetchTimeout: 50 * time.Millisecond, MaxWait: 100 * time.Millisecond,
			RefreshUnknownKIDInterval: time.Millisecond})
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("NewJWT took %v with a FetchTimeout of 50ms", d)
		}

		start = time.Now()
		_, err := a.Authenticate(context.Background(), tokA)
		wantUnavailable(t, err)
		if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
			t.Errorf("Authenticate took %v with a MaxWait of 100ms", d)
		}

		// The caller's context bounds the wait as well.
		b := newRemote(t, srv.URL, &RemoteJWKSOptions{FetchTimeout: 50 * time.Millisecond, MaxWait: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start = time.Now()
		_, err = b.Authenticate(ctx, tokA)
		wantUnavailable(t, err)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Authenticate took %v with a context of 100ms", d)
		}
	})
}

// lockedWriter serialises writes to a buffer the test reads.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRemoteJWKSAllowList(t *testing.T) {
	t.Parallel()
	ec := ecKeys()["P-256"]
	var logs bytes.Buffer
	var mu sync.Mutex
	srv := newJWKSServer(t,
		jwkOf(t, ec.Public(), "ec", nil),
		jwkOf(t, ec.Public(), "ec-rs", map[string]any{"alg": "RS256"}), // skipped: alg does not fit
		jwkOf(t, rsaKey().Public(), "rsa-ps", map[string]any{"alg": "PS256"}),
		map[string]any{"kty": "oct", "kid": "oct", "k": b64(testSecret)},                          // skipped: a secret
		jwkOf(t, otherEdKey().Public(), "ed-priv", map[string]any{"d": b64(otherEdKey().Seed())}), // skipped: private
		jwkOf(t, edKey().Public(), "ed-enc", map[string]any{"use": "enc"}),                        // skipped: not for signatures
	)
	a := newRemote(t, srv.srv.URL, &RemoteJWKSOptions{Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))})

	// An EC key does not verify a token claiming RS256, and its kid being
	// known, the refusal costs no fetch.
	_, err := a.Authenticate(context.Background(), kidToken(t, jwt.SigningMethodRS256, rsaKey(), "ec"))
	wantInvalid(t, err)
	srv.wantHits(t, 1)

	wantOK(t, a, kidToken(t, jwt.SigningMethodES256, ec, "ec"))
	wantOK(t, a, kidToken(t, jwt.SigningMethodES256, ec, ""))
	wantOK(t, a, kidToken(t, jwt.SigningMethodPS256, rsaKey(), "rsa-ps"))
	for _, tt := range []struct {
		name  string
		token string
	}{
		{"RS256 with the kid of an EC key", kidToken(t, jwt.SigningMethodRS256, rsaKey(), "ec")},
		{"EdDSA with the kid of an EC key", kidToken(t, jwt.SigningMethodEdDSA, edKey(), "ec")},
		{"RS256 with an EC key claiming RS256", kidToken(t, jwt.SigningMethodRS256, rsaKey(), "ec-rs")},
		{"ES256 with an EC key claiming RS256", kidToken(t, jwt.SigningMethodES256, ec, "ec-rs")},
		{"RS256 with a key restricted to PS256", kidToken(t, jwt.SigningMethodRS256, rsaKey(), "rsa-ps")},
		{"HS256 with a published secret", kidToken(t, jwt.SigningMethodHS256, testSecret, "oct")},
		{"EdDSA with a published private key", kidToken(t, jwt.SigningMethodEdDSA, otherEdKey(), "ed-priv")},
		{"EdDSA with an encryption key", kidToken(t, jwt.SigningMethodEdDSA, edKey(), "ed-enc")},
		{"EdDSA without kid, no Ed25519 key", kidToken(t, jwt.SigningMethodEdDSA, edKey(), "")},
	} {
		_, err := a.Authenticate(context.Background(), tt.token)
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		wantInvalid(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, kid := range []string{"ec-rs", "oct", "ed-priv"} {
		if !strings.Contains(logs.String(), "kid="+kid) {
			t.Errorf("the skipped key %q was not logged: %s", kid, logs.String())
		}
	}
}

func TestRemoteJWKSWithStaticKeys(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, jwkOf(t, ecKeys()["P-256"].Public(), "a", nil))
	a := newRemote(t, srv.srv.URL, &RemoteJWKSOptions{RefreshUnknownKIDInterval: time.Hour},
		WithHMACSecret(testSecret), WithPublicKey(otherEdKey().Public()))
	wantOK(t, a, kidToken(t, jwt.SigningMethodHS256, testSecret, ""))
	wantOK(t, a, kidToken(t, jwt.SigningMethodES256, ecKeys()["P-256"], "a"))
	srv.wantHits(t, 1)

	// A new remote kid is fetched before falling back to the static key
	// without an id...
	srv.publish(jwkOf(t, ecKeys()["P-256"].Public(), "a", nil), jwkOf(t, edKey().Public(), "b", nil))
	wantOK(t, a, kidToken(t, jwt.SigningMethodEdDSA, edKey(), "b"))
	srv.wantHits(t, 2)
	// ...which still verifies tokens of a kid that nobody has.
	wantOK(t, a, kidToken(t, jwt.SigningMethodEdDSA, otherEdKey(), "c"))

	// SetKeys replaces the static keys and leaves the remote set alone; with
	// a remote set, no static key at all is fine.
	if err := a.SetKeys(); err != nil {
		t.Fatalf("SetKeys(): %v", err)
	}
	_, err := a.Authenticate(context.Background(), kidToken(t, jwt.SigningMethodHS256, testSecret, ""))
	wantInvalid(t, err)
	wantOK(t, a, kidToken(t, jwt.SigningMethodEdDSA, edKey(), "b"))
	if err := a.SetKeys(WithRemoteJWKS(srv.srv.URL, nil)); err == nil || !strings.Contains(err.Error(), "key options only") {
		t.Errorf("SetKeys(WithRemoteJWKS) = %v, want a refusal", err)
	}
}

func TestRemoteJWKSClose(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, jwkOf(t, edKey().Public(), "a", nil))
	a, err := NewJWT(WithTimeFunc(fixedClock), WithRemoteJWKS(srv.srv.URL, &RemoteJWKSOptions{RefreshInterval: 10 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	n := srv.hits.Load()
	time.Sleep(50 * time.Millisecond)
	// Still verifies with the keys it has; fetches no more, neither on
	// schedule nor for an unknown kid.
	wantOK(t, a, kidToken(t, jwt.SigningMethodEdDSA, edKey(), "a"))
	_, err = a.Authenticate(context.Background(), kidToken(t, jwt.SigningMethodEdDSA, edKey(), "b"))
	wantInvalid(t, err)
	srv.wantHits(t, n)

	// A JWT without a remote set need not be closed, but may be.
	if err := newAuth(t, WithHMACSecret(testSecret)).Close(); err != nil {
		t.Errorf("Close without a remote JWKS: %v", err)
	}
}

func TestRemoteJWKSCloseDuringFetch(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	a, err := NewJWT(WithRemoteJWKS(srv.URL, &RemoteJWKSOptions{FetchTimeout: 10 * time.Millisecond, MaxWait: time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(context.Background(), kidToken(t, jwt.SigningMethodEdDSA, edKey(), "a"))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // the fetch hangs
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		wantUnavailable(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Authenticate still waits for a fetch that Close cancelled")
	}
}

// roundTripFunc is an http.RoundTripper that never touches the network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRemoteJWKSOptions(t *testing.T) {
	t.Parallel()
	var seen sync.Map
	offline := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen.Store(r.URL.String(), true)
		return nil, errors.New("offline")
	})
	client := &http.Client{Transport: offline}
	for _, url := range []string{"https://id.example/.well-known/jwks.json", "http://localhost:1/jwks", "http://127.0.0.2/jwks", "http://[::1]:1/jwks"} {
		a, err := NewJWT(WithRemoteJWKS(url, &RemoteJWKSOptions{HTTPClient: client}))
		if err != nil {
			t.Errorf("%s: %v", url, err)
			continue
		}
		a.Close()
		if _, ok := seen.Load(url); !ok {
			t.Errorf("%s was not fetched through the caller's client", url)
		}
	}
	if _, ok := client.Transport.(roundTripFunc); !ok {
		t.Errorf("the caller's client was modified: its Transport is a %T", client.Transport)
	}

	for _, tt := range []struct {
		name string
		opts []Option
		want string
	}{
		{"plain http", []Option{WithRemoteJWKS("http://id.example/jwks", nil)}, "must be https"},
		{"other scheme", []Option{WithRemoteJWKS("ftp://id.example/jwks", nil)}, "must be https"},
		{"no host", []Option{WithRemoteJWKS("https:///jwks", nil)}, "no host"},
		{"relative", []Option{WithRemoteJWKS("/jwks", nil)}, "no host"},
		{"unparsable", []Option{WithRemoteJWKS("https://id.example/%zz", nil)}, "invalid URL escape"},
		{"negative RefreshInterval", []Option{WithRemoteJWKS("https://id.example", &RemoteJWKSOptions{RefreshInterval: -1})}, "RefreshInterval"},
		{"negative RefreshUnknownKIDInterval", []Option{WithRemoteJWKS("https://id.example", &RemoteJWKSOptions{RefreshUnknownKIDInterval: -1})}, "RefreshUnknownKIDInterval"},
		{"negative MaxWait", []Option{WithRemoteJWKS("https://id.example", &RemoteJWKSOptions{MaxWait: -1})}, "MaxWait"},
		{"negative FetchTimeout", []Option{WithRemoteJWKS("https://id.example", &RemoteJWKSOptions{FetchTimeout: -1})}, "FetchTimeout"},
		{"twice", []Option{WithRemoteJWKS("https://a.example", &RemoteJWKSOptions{HTTPClient: client}),
			WithRemoteJWKS("https://b.example", &RemoteJWKSOptions{HTTPClient: client})}, "more than once"},
		{"with a bad static key", []Option{WithRemoteJWKS("https://a.example", &RemoteJWKSOptions{HTTPClient: client}),
			WithHMACSecret([]byte("short"))}, "at least 32"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, err := NewJWT(tt.opts...)
			if err == nil {
				a.Close()
				t.Fatal("NewJWT succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
