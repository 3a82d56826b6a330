package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"golang.org/x/time/rate"
)

// Defaults of RemoteJWKSOptions, and the size limit of a JWKS document.
const (
	defaultJWKSRefreshInterval    = time.Hour
	defaultJWKSUnknownKIDInterval = time.Minute
	defaultJWKSMaxWait            = 3 * time.Second
	defaultJWKSFetchTimeout       = 10 * time.Second
	maxJWKSSize                   = 1 << 20
)

// RemoteJWKSOptions configures WithRemoteJWKS. nil and zero fields mean the
// defaults; WithRemoteJWKS copies the struct and never modifies it.
type RemoteJWKSOptions struct {
	// HTTPClient fetches the set. It is copied, and its Transport (nil:
	// http.DefaultTransport) is wrapped to enforce WithRemoteJWKS's URL rule
	// and size limit. Defaults to a client of its own, with a private copy of
	// http.DefaultTransport whose idle connections JWT.Close closes.
	HTTPClient *http.Client

	// RefreshInterval is the period of the scheduled fetch, made by a
	// goroutine that JWT.Close stops. It bounds how long a key the issuer
	// removed keeps verifying. Defaults to 1 h; negative makes NewJWT fail.
	RefreshInterval time.Duration

	// RefreshUnknownKIDInterval is the least time between two fetches caused
	// by tokens: a token whose "kid" no key has, or any token while no set
	// has been fetched yet. Sooner, such a token is refused without a fetch,
	// so that made-up kids cannot turn handshakes into requests to the
	// issuer; it is also how soon a failed fetch is retried before the next
	// scheduled one. Defaults to 1 min; negative makes NewJWT fail.
	RefreshUnknownKIDInterval time.Duration

	// MaxWait bounds how long Authenticate waits for a fetch caused by a
	// token, the rate limit's wait included; the ctx given to Authenticate
	// bounds it too. Concurrent handshakes share one fetch. A fetch that
	// fails or runs out of time refuses the token with ErrUnavailable.
	// Defaults to 3 s; negative makes NewJWT fail.
	MaxWait time.Duration

	// FetchTimeout bounds the first fetch, which NewJWT makes, and each
	// scheduled one. Defaults to 10 s; negative makes NewJWT fail.
	FetchTimeout time.Duration

	// Logger receives a Warn record for each failed fetch and each key of
	// the set that is skipped. Defaults to nil: discard.
	Logger *slog.Logger
}

// remoteConfig is WithRemoteJWKS's checked configuration.
type remoteConfig struct {
	url string
	o   RemoteJWKSOptions // defaults applied
}

func newRemoteConfig(rawURL string, opts *RemoteJWKSOptions) (*remoteConfig, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("auth: WithRemoteJWKS: %w", err)
	}
	if err := checkJWKSURL(u); err != nil {
		return nil, fmt.Errorf("auth: WithRemoteJWKS: %w", err)
	}
	c := &remoteConfig{url: u.String()}
	if opts != nil {
		c.o = *opts
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"RefreshInterval", &c.o.RefreshInterval, defaultJWKSRefreshInterval},
		{"RefreshUnknownKIDInterval", &c.o.RefreshUnknownKIDInterval, defaultJWKSUnknownKIDInterval},
		{"MaxWait", &c.o.MaxWait, defaultJWKSMaxWait},
		{"FetchTimeout", &c.o.FetchTimeout, defaultJWKSFetchTimeout},
	} {
		switch {
		case *d.v < 0:
			return nil, fmt.Errorf("auth: WithRemoteJWKS: negative %s", d.name)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if c.o.Logger == nil {
		c.o.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// checkJWKSURL accepts https URLs, and http ones to a loopback host: keys
// fetched over plain HTTP could come from anyone on the path.
func checkJWKSURL(u *url.URL) error {
	host := u.Hostname()
	switch {
	case host == "":
		return fmt.Errorf("JWKS URL %q has no host", u.Redacted())
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (host == "localhost" || isLoopbackIP(host)):
		return nil
	default:
		return fmt.Errorf("JWKS URL %q must be https (http only to a loopback host)", u.Redacted())
	}
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// remoteJWKS is the issuer's key set, fetched, cached and refreshed by
// jwkset; this type turns each fetched set into verifyKeys once, and tracks
// whether the last fetch worked.
type remoteJWKS struct {
	url    string
	client jwkset.Storage // jwkset's HTTP client: KeyRead of an unknown kid fetches, rate-limited
	log    *slog.Logger
	ctx    context.Context    // the lifetime of every fetch, ended by close
	stop   context.CancelFunc // ends ctx, and with it jwkset's refresh goroutine
	idle   func()             // closes the idle connections of our own HTTP client; nil with the caller's
	closed atomic.Bool        // set under mu

	keys    atomic.Pointer[[]verifyKey] // the last set fetched; nil before the first success
	failure atomic.Pointer[error]       // why the last fetch failed; nil after a success

	mu       sync.Mutex
	inflight chan struct{}  // closed when the fetch tokens caused ends; nil when none runs
	fetches  sync.WaitGroup // that fetch's goroutine
}

var errNotFetched = errors.New("not fetched yet")

// startRemote makes the first fetch (bounded by FetchTimeout) and starts
// jwkset's refresh goroutine, owned by the returned remoteJWKS and stopped
// by close.
func startRemote(c *remoteConfig) (*remoteJWKS, error) {
	ctx, stop := context.WithCancel(context.Background())
	r := &remoteJWKS{url: c.url, log: c.o.Logger, ctx: ctx, stop: stop}
	r.failure.Store(&errNotFetched)

	hc := new(http.Client)
	if c.o.HTTPClient != nil {
		*hc = *c.o.HTTPClient
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
		if c.o.HTTPClient == nil {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			next, r.idle = tr, tr.CloseIdleConnections
		}
	}
	hc.Transport = jwksTransport{next: next}

	store, err := jwkset.NewStorageFromHTTP(c.url, jwkset.HTTPClientStorageOptions{
		Client:                    hc,
		Ctx:                       ctx,
		HTTPTimeout:               c.o.FetchTimeout,
		NoErrorReturnFirstHTTPReq: true, // a down issuer must not keep the server from starting
		RefreshErrorHandler:       r.fetchFailed,
		RefreshInterval:           c.o.RefreshInterval,
		Storage:                   &remoteStore{MemoryJWKSet: jwkset.NewMemoryStorage(), r: r},
	})
	if err == nil {
		r.client, err = jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
			HTTPURLs:          map[string]jwkset.Storage{c.url: store},
			RateLimitWaitMax:  c.o.MaxWait,
			RefreshUnknownKID: rate.NewLimiter(rate.Every(c.o.RefreshUnknownKIDInterval), 1),
		})
	}
	if err != nil {
		r.close()
		return nil, fmt.Errorf("auth: WithRemoteJWKS: %w", err)
	}
	return r, nil
}

// snapshot returns the keys of the last set fetched.
func (r *remoteJWKS) snapshot() []verifyKey {
	if p := r.keys.Load(); p != nil {
		return *p
	}
	return nil
}

// keysFor returns the remote keys for a token. When no set has been fetched
// yet, or the token names a kid that no key has (neither static nor remote),
// it first has the set fetched again and waits for that until ctx ends.
// Concurrent callers share one fetch, which a caller giving up does not
// cancel.
func (r *remoteJWKS) keysFor(ctx context.Context, kid string, hasKid bool, static []verifyKey) []verifyKey {
	keys := r.snapshot()
	if r.keys.Load() != nil && (!hasKid || hasKeyID(static, kid) || hasKeyID(keys, kid)) {
		return keys
	}
	r.mu.Lock()
	if r.closed.Load() {
		r.mu.Unlock()
		return keys
	}
	done := r.inflight
	if done == nil {
		done = make(chan struct{})
		r.inflight = done
		r.fetches.Add(1)
		go r.fetch(kid, done) // ends within MaxWait, or at close
	}
	r.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return r.snapshot()
}

// fetch asks jwkset for kid, which fetches the set again unless its rate
// limit says not yet; jwkset bounds the wait for the limit and the fetch by
// MaxWait. It closes done when finished.
func (r *remoteJWKS) fetch(kid string, done chan struct{}) {
	defer r.fetches.Done()
	// The error says no more than the snapshot and r.failure do: the kid is
	// still unknown, the limiter refused, or the fetch failed.
	_, _ = r.client.KeyRead(r.ctx, kid)
	r.mu.Lock()
	r.inflight = nil
	r.mu.Unlock()
	close(done)
}

// unavailable returns the error that refuses a token no key was found for
// when that is the key source's fault: no set could be fetched, the last
// fetch failed, or ctx ended first. It returns nil when the key is simply
// not in a set fetched successfully.
func (r *remoteJWKS) unavailable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: waiting for the JWKS at %s: %w", ErrUnavailable, r.url, err)
	}
	if p := r.failure.Load(); p != nil {
		return fmt.Errorf("%w: JWKS at %s: %w", ErrUnavailable, r.url, *p)
	}
	return nil
}

// fetchFailed is jwkset's RefreshErrorHandler. Fetches that close cancels
// are not failures of the issuer.
func (r *remoteJWKS) fetchFailed(ctx context.Context, err error) {
	if r.closed.Load() {
		return
	}
	r.failure.Store(&err)
	r.log.WarnContext(ctx, "auth: fetching the JWKS failed", "url", r.url, "err", err)
}

// fetched takes a set that jwkset fetched and parsed.
func (r *remoteJWKS) fetched(ctx context.Context, set []jwkset.JWK) {
	keys := make([]verifyKey, 0, len(set))
	for i, jwk := range set {
		k, ok, err := fromJWKSet(jwk)
		if err != nil {
			r.log.WarnContext(ctx, "auth: skipping a key of the JWKS", "url", r.url, "index", i, "kid", jwk.Marshal().KID, "err", err)
			continue
		}
		if ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		r.log.WarnContext(ctx, "auth: the JWKS has no usable signature verification key", "url", r.url)
	}
	r.keys.Store(&keys)
	r.failure.Store(nil)
}

// fromJWKSet converts a key as WithJWKS does (parseJWK), so that remote and
// static sets follow one rule. jwkset is more lenient: it keeps private and
// symmetric ("oct") keys, accepts padded base64 and does not check RSA
// exponents or key sizes.
func fromJWKSet(jwk jwkset.JWK) (verifyKey, bool, error) {
	b, err := json.Marshal(jwk.Marshal())
	if err != nil {
		return verifyKey{}, false, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return verifyKey{}, false, err
	}
	return parseJWK(m)
}

// close stops the refresh goroutines, waits for the fetch tokens caused
// (cancelled), and closes idle connections. It is safe to call twice.
func (r *remoteJWKS) close() {
	r.mu.Lock()
	r.closed.Store(true)
	r.mu.Unlock()
	r.stop()
	r.fetches.Wait()
	if r.idle != nil {
		r.idle()
	}
}

// Close stops the background refresh of a remote JWKS (WithRemoteJWKS) and
// releases its idle connections; a JWT with a remote JWKS must be closed
// when no longer used, others need not be. Afterwards Authenticate still
// verifies with the keys last fetched but fetches no more. Close is safe to
// call twice and concurrently with Authenticate, and returns nil.
//
// Close cancels any fetch under way and waits for those that handshakes
// caused. jwkset offers no way to wait for its own refresh goroutine: Close
// cancels it, and it ends as soon as it sees the cancellation.
func (j *JWT) Close() error {
	if j.remote != nil {
		j.remote.close()
	}
	return nil
}

// remoteStore is the jwkset.Storage behind the HTTP resource: jwkset calls
// KeyReplaceAll with every set it fetches successfully, which is where the
// set is converted, once per fetch.
type remoteStore struct {
	*jwkset.MemoryJWKSet
	r *remoteJWKS
}

// KeyReplaceAll stores the set for jwkset and for Authenticate.
func (s *remoteStore) KeyReplaceAll(ctx context.Context, given []jwkset.JWK) error {
	if err := s.MemoryJWKSet.KeyReplaceAll(ctx, given); err != nil {
		return err
	}
	s.r.fetched(ctx, given)
	return nil
}

// jwksTransport holds every request for the set, redirects included, to
// checkJWKSURL, and caps the size of the answers.
type jwksTransport struct{ next http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t jwksTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkJWKSURL(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: maxJWKSSize}
	return resp, nil
}

// cappedBody fails reads past maxJWKSSize bytes.
type cappedBody struct {
	io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if b.left -= int64(n); b.left < 0 {
		return n, fmt.Errorf("JWKS document is larger than %d bytes", maxJWKSSize)
	}
	return n, err
}
