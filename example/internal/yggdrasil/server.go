package yggdrasil

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/api"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/devsecret"
	"github.com/ratatoskr-proto/ratatoskr/metrics"
	"github.com/ratatoskr-proto/ratatoskr/nonce/redisstore"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// DefaultShutdownTimeout bounds a graceful shutdown unless
// Config.ShutdownTimeout says otherwise.
const DefaultShutdownTimeout = 15 * time.Second

// Config configures the example server; example/server fills it from its
// flags. The zero value is a working development server: the embedded dev
// secret, in-memory nonces, plain HTTP.
type Config struct {
	// JWTSecret is the HS256 secret device tokens are verified with (at
	// least 32 bytes). When JWTSecret, JWTPublicKeyPEM and JWKSURL are all
	// empty, the public development secret (package devsecret) is used and
	// a warning is logged.
	JWTSecret []byte
	// JWTPublicKeyPEM holds the token issuer's public keys (Ed25519, ECDSA
	// or RSA) as PEM. It may be combined with JWTSecret.
	JWTPublicKeyPEM []byte
	// JWKSURL is the token issuer's JWKS endpoint (its jwks_uri): https,
	// or http to a loopback host. Its keys are fetched at start, cached
	// and refreshed (auth.WithRemoteJWKS). It may be combined with the
	// other keys.
	JWKSURL string
	// JWTIssuer and JWTAudience, when set, are required in every token's
	// "iss" and "aud" claims. Default: not checked.
	JWTIssuer, JWTAudience string
	// RedisURL, when set (redis://user:pass@host:6379/0), keeps nonces in
	// Redis so that several replicas share replay protection. New pings it
	// and fails when it does not answer. Default: nonces in memory, which
	// protects this process only.
	RedisURL string
	// TLSCertFile and TLSKeyFile, when both are set, make Serve speak TLS
	// 1.3 only. Setting only one of them is an error.
	TLSCertFile, TLSKeyFile string
	// ShutdownTimeout bounds Serve's graceful shutdown. Defaults to
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// DeviceRate and DeviceBurst set the per-device request rate
	// (ratatoskrhttp.Options.RequestRate and RequestBurst): zero means the
	// library's default (100/s, burst 300), a negative rate no limit.
	DeviceRate  float64
	DeviceBurst int
	// HandshakeRatePerAddr sets the upgrades per second one client
	// address may make (Options.HandshakeRatePerAddr): zero means the
	// default (50/s, burst 200), negative no limit.
	HandshakeRatePerAddr float64
	// RequireSignatureV2 refuses devices that sign with v1
	// (ratatoskrhttp.Options.RequireSignatureV2).
	RequireSignatureV2 bool
	// ResponseKeyPEM, when set, holds the Ed25519 private key (PKCS#8 PEM,
	// as openssl genpkey -algorithm ed25519 writes it) that signs every
	// response. Default: responses are not signed.
	ResponseKeyPEM []byte
	// AdminToken, when set, enables POST /admin/disconnect, the kill
	// switch, for requests that carry it as "Authorization: Bearer
	// <token>". Default: the admin route is off.
	AdminToken string
}

// Server is the example platform backend. It is an http.Handler (the chi
// router) safe for concurrent use; Serve runs it on a listener.
type Server struct {
	router   http.Handler
	rt       *ratatoskrhttp.Handler
	jwt      *auth.JWT // closed by Close: it may refresh a remote JWKS
	market   *Marketplace
	payments *Payments
	rdb      *redis.Client        // nil with in-memory nonces
	registry *prometheus.Registry // served at GET /metrics
	tls      *tls.Config          // nil for plain HTTP
	log      *slog.Logger
	timeout  time.Duration
	// devSecret is set when tokens are verified with the public
	// development secret: Serve then refuses non-loopback listeners.
	devSecret bool
}

var _ http.Handler = (*Server)(nil)

// New builds the server from cfg: the token verifier, the nonce store (it
// connects to Redis when cfg.RedisURL is set, bounded by ctx), the
// Ratatoskr handler with its services, and the REST routes. logger gets
// one line per request; nil discards. Call Close when done.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (_ *Server, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a, devSecret, err := authenticator(cfg, logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	s := &Server{
		jwt:      a,
		market:   NewMarketplace(),
		payments: NewPayments(),
		log:      logger,
		timeout:  cfg.ShutdownTimeout,

		devSecret: devSecret,
	}
	if s.timeout <= 0 {
		s.timeout = DefaultShutdownTimeout
	}
	if s.tls, err = tlsConfig(cfg); err != nil {
		return nil, err
	}

	responseKey, err := responseKey(cfg.ResponseKeyPEM)
	if err != nil {
		return nil, err
	}
	if responseKey != nil {
		logger.Info("responses signed", "key_id", envelope.KeyID(responseKey.Public().(ed25519.PublicKey)))
	}

	s.registry = prometheus.NewRegistry()
	obs, err := metrics.New(s.registry, &metrics.Options{Services: []string{api.ServiceEcho, api.ServiceNornen, api.ServiceHeidrun}})
	if err != nil {
		return nil, err
	}

	var validation *envelope.ValidatorOptions // nil: in-memory nonces
	if cfg.RedisURL != "" {
		if s.rdb, err = connectRedis(ctx, cfg.RedisURL); err != nil {
			return nil, err
		}
		store := redisstore.New(s.rdb, &redisstore.Options{Logger: logger})
		if err := store.CheckEviction(ctx); err != nil { // warns about an evicting maxmemory-policy
			s.rdb.Close()
			return nil, fmt.Errorf("yggdrasil: %w", err)
		}
		validation = &envelope.ValidatorOptions{Nonces: store}
		logger.Info("nonces in redis: replay protection shared by every replica", "addr", s.rdb.Options().Addr)
	} else {
		logger.Info("nonces in memory: replay protection for this process only (use -redis for replicas)")
	}

	s.rt = ratatoskrhttp.New(&ratatoskrhttp.Options{
		Authenticator:        a,
		Validation:           validation,
		Logger:               logger,
		RequestRate:          rate.Limit(cfg.DeviceRate),
		RequestBurst:         cfg.DeviceBurst,
		HandshakeRatePerAddr: rate.Limit(cfg.HandshakeRatePerAddr),
		RequireSignatureV2:   cfg.RequireSignatureV2,
		ResponseKey:          responseKey,
		Observer:             obs,
	})
	s.rt.Use(ratatoskrhttp.Recoverer(func(ctx context.Context, req *ratatoskrhttp.Request, v any, stack []byte) {
		logger.Error("service panicked", "service", req.Service, "request_id", req.RequestID, "panic", v, "stack", string(stack))
	}))
	s.rt.HandleFunc(api.ServiceEcho, Echo)
	s.rt.Handle(api.ServiceNornen, s.market)
	s.rt.Handle(api.ServiceHeidrun, s.payments)

	r := chi.NewRouter()
	r.Group(func(r chi.Router) {
		r.Use(accessLog(logger))
		r.Get("/healthz", healthz)
		r.Get("/api/providers", s.listProviders)
		r.Get("/api/offers", s.listOffers)
		if cfg.AdminToken != "" {
			r.With(requireBearer(cfg.AdminToken)).Post("/admin/disconnect", s.disconnect)
		}
	})
	// Ratatoskr logs its own line per request; the upgrade itself is a
	// long-lived connection, not an access-log entry.
	r.Mount("/ratatoskr", s.rt)
	// Scrapes are not logged either. Public here, like /healthz: put
	// /metrics behind the network's edge or a token in production.
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	s.router = r
	return s, nil
}

// authenticator builds the device-token verifier from cfg. It reports
// whether that verifier accepts the public development secret.
func authenticator(cfg Config, logger *slog.Logger) (a *auth.JWT, devSecret bool, err error) {
	var opts []auth.Option
	secret := cfg.JWTSecret
	if len(secret) == 0 && len(cfg.JWTPublicKeyPEM) == 0 && cfg.JWKSURL == "" {
		logger.Warn(devsecret.Warning)
		secret = []byte(devsecret.Secret)
	}
	devSecret = string(secret) == devsecret.Secret
	if len(secret) > 0 {
		opts = append(opts, auth.WithHMACSecret(secret))
	}
	if len(cfg.JWTPublicKeyPEM) > 0 {
		opts = append(opts, auth.WithPublicKeyPEM(cfg.JWTPublicKeyPEM))
	}
	if cfg.JWKSURL != "" {
		opts = append(opts, auth.WithRemoteJWKS(cfg.JWKSURL, &auth.RemoteJWKSOptions{Logger: logger}))
	}
	if cfg.JWTIssuer != "" {
		opts = append(opts, auth.WithIssuer(cfg.JWTIssuer))
	}
	if cfg.JWTAudience != "" {
		opts = append(opts, auth.WithAudience(cfg.JWTAudience))
	}
	a, err = auth.NewJWT(opts...)
	if err != nil {
		return nil, false, fmt.Errorf("yggdrasil: token verifier: %w", err)
	}
	return a, devSecret, nil
}

// responseKey parses the response-signing key, nil when pemBytes is empty.
func responseKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	if len(pemBytes) == 0 {
		return nil, nil
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("yggdrasil: the response key must be a PKCS#8 PEM block (PRIVATE KEY)")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("yggdrasil: response key: %w", err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("yggdrasil: the response key is a %T, not an Ed25519 key", k)
	}
	return key, nil
}

// tlsConfig loads the certificate when cfg asks for TLS. Only TLS 1.3 is
// offered: every client of this server is new code.
func tlsConfig(cfg Config) (*tls.Config, error) {
	switch {
	case cfg.TLSCertFile == "" && cfg.TLSKeyFile == "":
		return nil, nil
	case cfg.TLSCertFile == "" || cfg.TLSKeyFile == "":
		return nil, errors.New("yggdrasil: TLS needs both a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("yggdrasil: loading TLS certificate: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}, nil
}

// connectRedis opens a client for url and checks that the server answers,
// so a wrong URL fails at start rather than on the first request (which
// would be refused with UNAVAILABLE: the store fails closed).
func connectRedis(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("yggdrasil: redis URL: %w", err)
	}
	// Let the nonce store's per-check timeout (and request contexts) bound
	// socket reads, so a hung Redis answers UNAVAILABLE quickly.
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("yggdrasil: redis at %s: %w", opts.Addr, err)
	}
	return rdb, nil
}

// ServeHTTP serves the REST routes and Ratatoskr at /ratatoskr.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Ratatoskr returns the Ratatoskr handler mounted at /ratatoskr, for
// callers that serve the Server themselves and must shut it down (see
// Serve for the wiring).
func (s *Server) Ratatoskr() *ratatoskrhttp.Handler { return s.rt }

// TLS reports whether Serve speaks TLS.
func (s *Server) TLS() bool { return s.tls != nil }

// Close drops every Ratatoskr connection at once (Serve has already ended
// them gracefully), stops the token verifier's JWKS refresh and closes the
// Redis client. It is safe to call twice.
func (s *Server) Close() error {
	err := errors.Join(s.rt.Close(), s.jwt.Close())
	if s.rdb != nil {
		if cerr := s.rdb.Close(); cerr != nil && !errors.Is(cerr, redis.ErrClosed) {
			err = errors.Join(err, cerr)
		}
	}
	return err
}
