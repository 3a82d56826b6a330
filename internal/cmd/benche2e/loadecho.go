package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Bounds on one request, so that a stuck server fails the round instead of
// hanging the bench.
const (
	dialTimeout    = 10 * time.Second
	requestTimeout = 10 * time.Second
)

// echoConn is one bare WebSocket connection to the echo server. Its reader
// goroutine passes the length of each echoed message to answers. Methods
// are not safe for concurrent use.
type echoConn struct {
	c       *websocket.Conn
	answers chan int      // closed when the reader stops
	quit    chan struct{} // closed by close, so the reader never blocks on answers
	done    chan struct{} // closed when the reader has stopped
}

// dialEcho connects to the echo server at url. inflight is the most
// messages the caller keeps outstanding.
func dialEcho(ctx context.Context, url string, inflight int) (*echoConn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("dialling the echo server: %w", err)
	}
	c.SetReadLimit(echoReadLimit)
	e := &echoConn{c: c, answers: make(chan int, inflight), quit: make(chan struct{}), done: make(chan struct{})}
	go e.read() // owned by e; stopped by close, which closes the connection under it
	return e, nil
}

// read delivers the length of each message read until the connection ends.
func (e *echoConn) read() {
	defer close(e.done)
	defer close(e.answers)
	for {
		_, p, err := e.c.Read(context.Background())
		if err != nil {
			return
		}
		select {
		case e.answers <- len(p):
		case <-e.quit:
			return
		}
	}
}

// close closes the connection and waits for the reader.
func (e *echoConn) close() {
	close(e.quit)
	e.c.CloseNow()
	<-e.done
}

// run keeps inflight copies of payload outstanding on the connection until
// deadline, then waits for the last answers, and returns how many came
// back. Each answer must come within requestTimeout.
func (e *echoConn) run(ctx context.Context, deadline time.Time, payload []byte, inflight int) (int, error) {
	send := func() error {
		ctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		return e.c.Write(ctx, websocket.MessageBinary, payload)
	}
	outstanding, completed := 0, 0
	for ; outstanding < inflight && time.Now().Before(deadline); outstanding++ {
		if err := send(); err != nil {
			return completed, fmt.Errorf("echo: write: %w", err)
		}
	}
	timer := time.NewTimer(requestTimeout)
	defer timer.Stop()
	for outstanding > 0 {
		timer.Reset(requestTimeout)
		select {
		case n, ok := <-e.answers:
			if !ok {
				return completed, errors.New("echo: the connection closed")
			}
			if n != len(payload) {
				return completed, fmt.Errorf("echo: got %d bytes back, sent %d", n, len(payload))
			}
			outstanding--
			completed++
		case <-timer.C:
			return completed, fmt.Errorf("echo: no answer within %v", requestTimeout)
		case <-ctx.Done():
			return completed, ctx.Err()
		}
		if time.Now().Before(deadline) {
			if err := send(); err != nil {
				return completed, fmt.Errorf("echo: write: %w", err)
			}
			outstanding++
		}
	}
	return completed, nil
}

// once sends payload and waits for it to come back.
func (e *echoConn) once(ctx context.Context, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if err := e.c.Write(ctx, websocket.MessageBinary, payload); err != nil {
		return fmt.Errorf("echo: write: %w", err)
	}
	select {
	case n, ok := <-e.answers:
		if !ok || n != len(payload) {
			return errors.New("echo: no echo of the message sent")
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("echo: %w", ctx.Err())
	}
}

// echoLoad is the bench's load on the echo server: conns connections with
// inflight messages outstanding on each.
type echoLoad struct {
	conns    []*echoConn
	inflight int
	payload  []byte
}

// newEchoLoad dials conns connections to the echo server at url.
func newEchoLoad(ctx context.Context, url string, conns, inflight int, payload []byte) (*echoLoad, error) {
	l := &echoLoad{inflight: inflight, payload: payload}
	for range conns {
		c, err := dialEcho(ctx, url, inflight)
		if err != nil {
			l.close()
			return nil, err
		}
		l.conns = append(l.conns, c)
	}
	return l, nil
}

// run drives every connection until deadline and returns the requests
// completed; the echo server never refuses one, so failed is always 0.
func (l *echoLoad) run(ctx context.Context, deadline time.Time) (completed, failed int, err error) {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for _, c := range l.conns {
		wg.Go(func() { // owned by run, which waits; ends by deadline or requestTimeout
			n, err := c.run(ctx, deadline, l.payload, l.inflight)
			mu.Lock()
			defer mu.Unlock()
			completed += n
			errs = append(errs, err)
		})
	}
	wg.Wait()
	return completed, 0, errors.Join(errs...)
}

// close closes every connection.
func (l *echoLoad) close() {
	for _, c := range l.conns {
		c.close()
	}
}
