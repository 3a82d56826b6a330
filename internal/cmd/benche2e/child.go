package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Bounds on waiting for a child server.
const (
	readyTimeout = 30 * time.Second // from start until it accepts connections
	stopTimeout  = 20 * time.Second // from SIGTERM until it exits (the example server drains gracefully)
)

// server is one child server process listening on addr. Its stdout and
// stderr go to logPath. Methods are not safe for concurrent use.
type server struct {
	name    string
	addr    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited; waitErr is set before
	waitErr error
}

// startServer starts argv as a child with extra environment env, logging
// to logPath, and waits until it accepts TCP connections on addr.
func startServer(ctx context.Context, name, addr, logPath string, env, argv []string) (*server, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the %s server: %w", name, err)
	}
	s := &server{name: name, addr: addr, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() { // owned by s; ends when the process exits, which stop and kill cause
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.kill()
		return nil, err
	}
	return s, nil
}

// pid returns the server's process id, for /proc.
func (s *server) pid() int { return s.cmd.Process.Pid }

// waitReady polls the server's address until it accepts a connection,
// within readyTimeout; it fails at once when the process exits.
func (s *server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", s.addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("the %s server exited before listening (%v); its log:\n%s", s.name, s.waitErr, s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("the %s server is not listening on %s after %v: %w", s.name, s.addr, readyTimeout, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// alive returns an error when the server has exited.
func (s *server) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("the %s server exited (%v); its log:\n%s", s.name, s.waitErr, s.logTail())
	default:
		return nil
	}
}

// stop asks the server to shut down (SIGTERM) and waits for it, killing it
// after stopTimeout. It is safe to call after kill.
func (s *server) stop() {
	if s.cmd.Process.Signal(syscall.SIGTERM) == nil {
		select {
		case <-s.exited:
			return
		case <-time.After(stopTimeout):
		}
	}
	s.kill()
}

// kill kills the server at once and waits for it to exit.
func (s *server) kill() {
	s.cmd.Process.Kill() // an error means it has exited already
	<-s.exited
}

// logTail returns the end of the server's log, for error messages.
func (s *server) logTail() string {
	const max = 2048
	f, err := os.Open(s.logPath)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		f.Seek(fi.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// freeAddr returns a loopback address with a port free a moment ago. A
// process may take it before the server does; the server then fails to
// listen and the bench says so.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// launcher starts the two kinds of server the bench compares. Its methods
// are not safe for concurrent use.
type launcher struct {
	self      string // this executable, re-run with -serve-echo
	serverBin string // the example server's executable
	secret    string // HS256 secret given to the example server
	logDir    string
	started   int // servers started, to name their logs
}

// start starts a fresh server of the given kind (kindEcho or kindRatatoskr)
// on a free loopback port.
func (l *launcher) start(ctx context.Context, kind string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	l.started++
	logPath := filepath.Join(l.logDir, fmt.Sprintf("%02d-%s.log", l.started, kind))
	switch kind {
	case kindEcho:
		return startServer(ctx, kind, addr, logPath, nil, []string{l.self, serveEchoArg, addr})
	case kindRatatoskr:
		// The environment, not a flag, so the secret is not in ps output.
		env := []string{"RATATOSKR_JWT_SECRET=" + l.secret}
		// The bench is one client address opening thousands of sessions
		// and a few devices each sending thousands of requests a second:
		// the per-address upgrade limit is off, and the device rate is
		// high enough never to refuse, though still checked per request.
		return startServer(ctx, kind, addr, logPath, env, []string{l.serverBin, "-addr", addr,
			"-addr-handshake-rate", "-1", "-device-rate", "1e7"})
	}
	return nil, errors.New("unknown server kind " + kind)
}

// buildExampleServer builds ./example/server into dir with the go command
// on PATH and returns the executable's path. It must run inside the
// module (make runs it from the repository root).
func buildExampleServer(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "example-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/ratatoskr-proto/ratatoskr/example/server")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building example/server (run from the repository, or pass -server-bin): %w", err)
	}
	return out, nil
}
