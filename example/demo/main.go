// Command demo is what `make demo` runs: the example server in-process on
// a free port with its embedded development defaults, one device exchange
// against it, and a graceful shutdown. It needs nothing but Go, takes a
// few seconds, and exits 0 when every step went as expected.
//
//	go run ./example/demo
//	go run ./example/demo -q   # without the server's log lines
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/example/internal/api"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/devsecret"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/exchange"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/logbuf"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/yggdrasil"
)

func main() {
	quiet := flag.Bool("q", false, "hide the server's log lines")
	flag.Parse()
	var logs io.Writer = os.Stderr
	if *quiet {
		logs = io.Discard
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, logs); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// run starts the server, runs the exchange, and shuts the server down,
// narrating to out; the server logs to logs, through the same buffer as
// example/server, flushed when run returns.
func run(ctx context.Context, out, logs io.Writer) (err error) {
	buffered := logbuf.New(logs, nil)
	defer buffered.Close() // deferred first, so it runs last: after the shutdown's records
	logger := slog.New(logbuf.FlushAt(slog.NewTextHandler(buffered, nil), buffered, slog.LevelError))
	fmt.Fprintln(out, "Starting the example server (Yggdrasil) in-process, on embedded development defaults.")
	s, err := yggdrasil.New(ctx, yggdrasil.Config{ShutdownTimeout: 5 * time.Second}, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()

	serveCtx, stopServer := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- s.Serve(serveCtx, ln) }() // owned by run, which waits for it below
	defer func() {
		stopServer()
		if serr := <-served; serr != nil {
			err = errors.Join(err, serr)
		} else if err == nil {
			fmt.Fprintln(out, "Server shut down gracefully.")
		}
	}()

	// A dedicated transport, so no idle connection outlives the demo.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Second}

	if err := waitHealthy(ctx, hc, "http://"+addr+"/healthz"); err != nil {
		return err
	}
	fmt.Fprintf(out, "Server is up: GET http://%s/healthz answered 200 ok.\n\n", addr)

	err = exchange.Run(ctx, exchange.Config{
		URL:      "ws://" + addr + "/ratatoskr",
		UserID:   "alice",
		DeviceID: "phone-1",
		Secret:   []byte(devsecret.Secret),
	}, out)
	if err != nil {
		return err
	}

	// The REST side sees what the device did over Ratatoskr.
	var providers api.Providers
	if err := getJSON(ctx, hc, "http://"+addr+"/api/providers", &providers); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nREST next to it: GET /api/providers lists %d providers, the last one %q registered over Ratatoskr.\n",
		len(providers.Providers), providers.Providers[len(providers.Providers)-1].Name)
	return nil
}

// waitHealthy polls url until it answers 200, for up to five seconds.
func waitHealthy(ctx context.Context, hc *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not healthy at %s: %w", url, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// getJSON fetches url and decodes its JSON body into v.
func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
