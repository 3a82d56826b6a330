package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/cmd/ratatoskr/internal/loadgen"
)

func init() { benchCmd = runBench }

const benchUsage = `usage: ratatoskr bench -url URL (-keygen | -key FILE) [flags]

bench generates load against a Ratatoskr endpoint: -c connections, one
device each, each keeping -inflight business requests awaiting their
answers, for -duration or -n requests, then prints a report: requests,
errors by code, throughput, latency p50/p90/p99/p99.9 (of the successful
requests), and with -server-pid the server's CPU microseconds per request
over the measured window (Linux: /proc/PID/stat, 10 ms resolution).

Devices: with -keygen, each connection is a fresh device ("bench-device-I",
user "bench-user-I") with a new Ed25519 key and a device token minted with
the HS256 secret of RATATOSKR_JWT_SECRET or -secret-file. With -key, every
connection is the device of that key (PKCS#8 PEM) and of the token in
-token-file or RATATOSKR_TOKEN.

Signing ahead: ed25519 signing costs tens of microseconds, so bench does not
sign in the send path. Each connection has a signing goroutine that signs
requests (fresh id, nonce and timestamp) into a buffer of -buffer requests
(default 4 x -inflight, at least 64) and blocks when it is full; the
connection's senders send them as they are (client.Client.Send). The
buffers are filled before the measured window starts. The report compares
the signers' rate with the sending rate, and counts "stalls", the times a
sender found no signed request ready (signing did not keep up).

Rate limits: a server with default limits lets each device send 100
requests per second (burst 300) and answers the rest RATE_LIMITED, which
bench counts separately and which does not fail the run; but the server
also closes a connection that gets 16 such refusals in a burst (ratatoskrhttp
Options.MaxProtocolErrors), which bench reports as a lost connection (exit
3) after printing the report. To measure the
server rather than its limiter, use many connections (-keygen: one device
each) or a server with a higher per-device rate (the example server:
-device-rate 1e7 -addr-handshake-rate -1).

A live progress line is printed on stderr when it is a terminal.

Exit codes: 0 done (refusals included), 2 usage, 3 a connection failed or
was lost.

Examples:

	RATATOSKR_JWT_SECRET=... ratatoskr bench -url ws://127.0.0.1:8080/ws -keygen -duration 10s
	ratatoskr bench -url ws://127.0.0.1:8080/ws -keygen -secret-file secret -c 64 -n 100000 --json
	ratatoskr bench -url ws://127.0.0.1:8080/ws -keygen -server-pid $(pidof server)

Flags:
`

// runBench is the bench subcommand.
func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	var (
		url        = fs.String("url", "", "endpoint, ws:// or wss:// (required)")
		keyFile    = fs.String("key", "", "device private key, PKCS#8 PEM; with -token-file or RATATOSKR_TOKEN")
		tokenFile  = fs.String("token-file", "", "file holding the device token for -key (default: env RATATOSKR_TOKEN)")
		keygen     = fs.Bool("keygen", false, "a fresh device per connection, its token minted with the HS256 secret")
		secretFile = fs.String("secret-file", "", "file holding the HS256 secret for -keygen (default: env RATATOSKR_JWT_SECRET)")
		conns      = fs.Int("c", loadgen.DefaultConns, "connections (one device each with -keygen)")
		inflight   = fs.Int("inflight", loadgen.DefaultInFlight, "requests awaiting an answer per connection")
		size       = fs.Int("size", loadgen.DefaultSize, "payload size in bytes")
		duration   = fs.Duration("duration", 0, "length of the measured window (default 10s unless -n)")
		n          = fs.Int64("n", 0, "number of requests (with -duration: whichever ends first)")
		service    = fs.String("service", loadgen.DefaultService, "service called")
		timeout    = fs.Duration("timeout", loadgen.DefaultTimeout, "bound on each request")
		buffer     = fs.Int("buffer", 0, "requests signed ahead per connection (default 4 x -inflight, at least 64)")
		serverPID  = fs.Int("server-pid", 0, "server process id: report its CPU per request (Linux)")
		jsonOut    = fs.Bool("json", false, "print the report as JSON")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "ratatoskr bench: "+format+"\n", a...)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return usageErr("unexpected arguments %q", fs.Args())
	case *url == "":
		return usageErr("-url is required")
	case *keygen == (*keyFile != ""):
		return usageErr("give one of -keygen and -key")
	case *conns <= 0 || *inflight <= 0:
		return usageErr("-c and -inflight must be positive")
	case *duration < 0 || *n < 0 || *size < 0:
		return usageErr("-duration, -n and -size may not be negative")
	}
	var device func(int) (client.Options, error)
	if *keygen {
		secret, err := benchSecret(*secretFile)
		if err != nil {
			return usageErr("%v", err)
		}
		ttl := max(2*time.Hour, 2**duration)
		device = loadgen.HS256Devices(secret, ttl)
	} else {
		o, err := benchDevice(*keyFile, *tokenFile)
		if err != nil {
			return usageErr("%v", err)
		}
		device = func(int) (client.Options, error) { return o, nil }
	}
	cfg := loadgen.Config{
		URL: *url, Device: device, Conns: *conns, InFlight: *inflight, Size: *size,
		Duration: *duration, Requests: *n, Service: *service, Timeout: *timeout, Buffer: *buffer, ServerPID: *serverPID,
	}
	if *size == 0 {
		cfg.Size = -1 // loadgen: empty payload
	}
	if isTerminal(stderr) {
		cfg.ProgressInterval = 500 * time.Millisecond
		cfg.Progress = func(p loadgen.Progress) {
			fmt.Fprintf(stderr, "\r%6.1fs  %10d answered  %8.0f req/s  %d errors (%d RATE_LIMITED)   ",
				p.Elapsed.Seconds(), p.Answered, p.Rate, p.Errors, p.RateLimited)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := loadgen.Run(ctx, cfg)
	if cfg.Progress != nil {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if rep != nil {
		if *jsonOut {
			rep.WriteJSON(stdout)
		} else {
			rep.WriteText(stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "ratatoskr bench: %v\n", err)
		// A connection that failed or was lost (loadgen.ErrConnection), and
		// the rarer signing or /proc failures: the run was not measured as asked.
		return 3
	}
	return 0
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// benchSecret reads the HS256 secret from file, or RATATOSKR_JWT_SECRET.
func benchSecret(file string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	s := os.Getenv("RATATOSKR_JWT_SECRET")
	if s == "" {
		return nil, errors.New("-keygen needs an HS256 secret: -secret-file or RATATOSKR_JWT_SECRET")
	}
	return []byte(s), nil
}

// benchDevice reads the device of -key: its key, and its token whose "sub"
// and "device_id" claims (read, not verified) name the user and device.
func benchDevice(keyFile, tokenFile string) (client.Options, error) {
	key, err := readDevicePrivateKey(keyFile)
	if err != nil {
		return client.Options{}, err
	}
	token, err := readDeviceToken(os.Getenv, tokenFile)
	if err != nil {
		return client.Options{}, err
	}
	claims := unverifiedClaims(token)
	if claims.Sub == "" || claims.DeviceID == "" {
		return client.Options{}, errors.New(`device token: no "sub" and "device_id" claims`)
	}
	return client.Options{UserID: claims.Sub, DeviceID: claims.DeviceID, PrivateKey: key, Token: token}, nil
}
