// Command server is the example Yggdrasil: a platform backend serving REST
// and Ratatoskr side by side on one chi router.
//
//	go run ./example/server                      # dev defaults: 127.0.0.1:8080, public dev secret, nonces in memory
//	go run ./example/server -jwt-secret "$(openssl rand -base64 48)" -redis redis://localhost:6379/0
//	go run ./example/server -jwt-public-key issuer.pub.pem -tls-cert cert.pem -tls-key key.pem
//
// Routes: GET /healthz, GET /api/providers, GET /api/offers, GET /metrics
// (Prometheus), POST /admin/disconnect (with -admin-token-file), and the
// Ratatoskr endpoint at /ratatoskr with the services echo, nornen and
// heidrun. See example/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/example/internal/logbuf"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/yggdrasil"
)

func main() {
	// One record per request: buffered, so that logging is not a write(2)
	// per request. Error records are flushed at once; the rest at least
	// once a second, and all of it by Close on the way out.
	logs := logbuf.New(os.Stderr, nil)
	logger := slog.New(logbuf.FlushAt(slog.NewTextHandler(logs, nil), logs, slog.LevelError))
	redis.SetLogger(redisLogger{logger}) // go-redis logs through a global of its own
	err := run(logger)
	if err != nil {
		logger.Error("server failed", "err", err)
	}
	logs.Close() // before os.Exit, which runs no deferred calls
	if err != nil {
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	secret := flag.String("jwt-secret", "", "HS256 secret device tokens are verified with, at least 32 bytes (env RATATOSKR_JWT_SECRET);\nwithout it, -jwt-public-key and -jwt-jwks-url, the public development secret is used")
	publicKey := flag.String("jwt-public-key", "", "PEM file with the token issuer's public key (Ed25519, ECDSA or RSA)")
	jwksURL := flag.String("jwt-jwks-url", "", "URL of the token issuer's JWKS (its jwks_uri), fetched at start and refreshed; https, or http to localhost")
	issuer := flag.String("jwt-issuer", "", `required "iss" of device tokens (default: not checked)`)
	audience := flag.String("jwt-audience", "", `required "aud" of device tokens (default: not checked)`)
	redisURL := flag.String("redis", "", "Redis URL for nonces shared by replicas, e.g. redis://localhost:6379/0 (default: in memory)")
	tlsCert := flag.String("tls-cert", "", "TLS certificate PEM file; with -tls-key, serve TLS 1.3 only")
	tlsKey := flag.String("tls-key", "", "TLS private key PEM file")
	shutdownTimeout := flag.Duration("shutdown-timeout", yggdrasil.DefaultShutdownTimeout, "how long a graceful shutdown may take")
	deviceRate := flag.Float64("device-rate", 0, "requests per second one device may send (default 100; negative: no limit)")
	deviceBurst := flag.Int("device-burst", 0, "requests one device may send at once above -device-rate (default 3 x the rate)")
	addrRate := flag.Float64("addr-handshake-rate", 0, "WebSocket upgrades per second from one client address (default 50; negative: no limit)")
	requireV2 := flag.Bool("require-signature-v2", false, "refuse devices that sign with v1 (which covers neither message_type nor metadata)")
	responseKeyFile := flag.String("response-key-file", "", "PKCS#8 PEM file with the Ed25519 key that signs every response (openssl genpkey -algorithm ed25519); default: unsigned")
	adminTokenFile := flag.String("admin-token-file", "", "file holding the bearer token that enables POST /admin/disconnect (env RATATOSKR_ADMIN_TOKEN); default: no admin route")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	cfg := yggdrasil.Config{
		JWTIssuer:       *issuer,
		JWTAudience:     *audience,
		JWKSURL:         *jwksURL,
		RedisURL:        *redisURL,
		TLSCertFile:     *tlsCert,
		TLSKeyFile:      *tlsKey,
		ShutdownTimeout: *shutdownTimeout,

		DeviceRate:           *deviceRate,
		DeviceBurst:          *deviceBurst,
		HandshakeRatePerAddr: *addrRate,
		RequireSignatureV2:   *requireV2,
		AdminToken:           os.Getenv("RATATOSKR_ADMIN_TOKEN"),
	}
	if *adminTokenFile != "" {
		b, err := os.ReadFile(*adminTokenFile)
		if err != nil {
			return fmt.Errorf("reading -admin-token-file: %w", err)
		}
		cfg.AdminToken = strings.TrimSpace(string(b))
	}
	if *responseKeyFile != "" {
		b, err := os.ReadFile(*responseKeyFile)
		if err != nil {
			return fmt.Errorf("reading -response-key-file: %w", err)
		}
		cfg.ResponseKeyPEM = b
	}
	if cfg.AdminToken != "" && len(cfg.AdminToken) < 16 {
		return errors.New("the admin token must be at least 16 characters")
	}
	if *secret == "" {
		*secret = os.Getenv("RATATOSKR_JWT_SECRET")
	}
	if *secret != "" {
		cfg.JWTSecret = []byte(*secret)
	}
	if *publicKey != "" {
		pem, err := os.ReadFile(*publicKey)
		if err != nil {
			return fmt.Errorf("reading -jwt-public-key: %w", err)
		}
		cfg.JWTPublicKeyPEM = pem
	}

	// The first SIGINT or SIGTERM starts a graceful shutdown; a second one
	// kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)

	s, err := yggdrasil.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// redisLogger sends go-redis's own messages (dial failures, reconnects) to
// the server's structured log.
type redisLogger struct{ log *slog.Logger }

// Printf logs one go-redis message as a warning.
func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
