package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// serveEchoArg, as the first argument, makes the binary the bare echo
// server instead of the bench: `benche2e -serve-echo 127.0.0.1:PORT`. It is
// not a flag of the bench, which starts it itself.
const serveEchoArg = "-serve-echo"

// echoReadLimit bounds the messages the echo server accepts, as the
// Ratatoskr server's default message limit does.
const echoReadLimit = 1 << 20

// serveEcho runs the bare echo server on addr, which must be a loopback
// address, until the process is killed (the bench sends SIGTERM, and the
// kernel kills it if the bench dies).
func serveEcho(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("echo server: %q is not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// echo is the floor the bench measures Ratatoskr against: the least a
// coder/websocket server can do per message, reading each message and
// writing it back, one at a time per connection, with no goroutine but the
// connection's own.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(echoReadLimit)
	ctx := r.Context()
	for {
		typ, p, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, p); err != nil {
			return
		}
	}
}
