package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// The two servers the bench compares.
const (
	kindEcho      = "echo"
	kindRatatoskr = "ratatoskr"
)

// config is the bench's configuration, from its flags.
type config struct {
	conns, inflight, payload int
	duration                 time.Duration
	rounds                   int
	idle                     bool
	idleConns                int
	settle                   time.Duration
	serverBin                string
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == serveEchoArg {
		if err := serveEcho(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "benche2e:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2) // the flag package has printed why
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benche2e:", err)
		os.Exit(1)
	}
}

// parseFlags reads the bench's flags from args.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("benche2e", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.conns, "conns", 16, "connections to each server under load")
	fs.IntVar(&cfg.inflight, "inflight", 16, "requests outstanding on each connection under load")
	fs.IntVar(&cfg.payload, "payload", 256, "payload bytes per request")
	fs.DurationVar(&cfg.duration, "duration", 3*time.Second, "length of each server's turn in a load round")
	fs.IntVar(&cfg.rounds, "rounds", 5, "rounds; the summary gives medians over them")
	fs.BoolVar(&cfg.idle, "idle", false, "measure server memory per idle connection instead of CPU per request")
	fs.IntVar(&cfg.idleConns, "idle-conns", 2000, "idle connections opened to each server with -idle")
	fs.DurationVar(&cfg.settle, "settle", 2*time.Second, "with -idle, the wait before each VmRSS reading")
	fs.StringVar(&cfg.serverBin, "server-bin", "", "example server executable (default: go build ./example/server into a temporary directory)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: benche2e [flags]\n\n"+
			"Measures Ratatoskr's example server against a bare coder/websocket echo server, both on\n"+
			"127.0.0.1: server CPU per request and throughput under load, or with -idle server memory\n"+
			"per idle connection. See the package doc (go doc ./internal/cmd/benche2e).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var bad error
	switch {
	case fs.NArg() > 0:
		bad = fmt.Errorf("unexpected arguments %q", fs.Args())
	case cfg.conns < 1 || cfg.inflight < 1 || cfg.rounds < 1 || cfg.idleConns < 1:
		bad = errors.New("-conns, -inflight, -rounds and -idle-conns must be at least 1")
	case cfg.inflight > 64:
		bad = errors.New("-inflight may not exceed 64, the server's default bound per connection")
	case cfg.payload < 0 || cfg.payload > 512<<10:
		bad = errors.New("-payload must be between 0 and 512 KiB")
	case cfg.duration <= 0 || cfg.settle < 0:
		bad = errors.New("-duration must be positive and -settle not negative")
	}
	if bad != nil {
		fmt.Fprintln(stderr, bad)
		fs.Usage()
		return cfg, bad
	}
	return cfg, nil
}

// run builds and starts what the bench needs, runs the mode cfg asks for,
// and prints its table to out. It removes its temporary directory (the
// server logs) unless something failed.
func run(ctx context.Context, cfg config, out io.Writer) (err error) {
	if !supported {
		return errors.New("the bench reads /proc and runs on Linux only")
	}
	need := uint64(cfg.conns) + 256
	if cfg.idle {
		need += uint64(cfg.idleConns)
	}
	if err := ensureNoFile(need); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "benche2e-")
	if err != nil {
		return err
	}
	l := &launcher{serverBin: cfg.serverBin, logDir: dir}
	defer func() {
		if err != nil && l.started > 0 {
			err = fmt.Errorf("%w\n(server logs kept in %s)", err, dir)
			return
		}
		os.RemoveAll(dir)
	}()

	if l.self, err = os.Executable(); err != nil {
		return err
	}
	if l.serverBin == "" {
		if l.serverBin, err = buildExampleServer(ctx, dir); err != nil {
			return err
		}
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	l.secret = hex.EncodeToString(secret)

	if cfg.idle {
		return runIdle(ctx, cfg, l, out)
	}
	return runLoad(ctx, cfg, l, out)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
