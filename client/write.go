package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/coder/websocket"
)

// writeJob is one frame for the writer goroutine.
type writeJob struct {
	ctx     context.Context // the caller's; a job whose ctx ended before its turn is skipped
	typ     websocket.MessageType
	frame   []byte
	abandon func()     // run by the writer when the frame is not sent; may be nil
	result  chan error // buffered: the caller may have left
}

func newWriteJob(ctx context.Context, typ websocket.MessageType, frame []byte, abandon func()) *writeJob {
	return &writeJob{ctx: ctx, typ: typ, frame: frame, abandon: abandon, result: make(chan error, 1)}
}

// enqueue hands job to the writer, or fails when ctx ends or the connection
// is gone first.
func (c *link) enqueue(ctx context.Context, job *writeJob) error {
	select {
	case c.writes <- job:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.Err()
	}
}

// writeLoop writes frames one at a time. It is owned by the Client and
// stops when c.ctx is cancelled (Close, or the reader on its way out).
//
// A frame is written under the client's own deadline (WriteTimeout), not
// under the caller's context: a caller giving up must not cut a frame in
// half, which would kill the connection for every other call.
func (c *link) writeLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case job := <-c.writes:
			var err error
			if job.ctx.Err() != nil {
				err = errSkipped
			} else {
				ctx, cancel := context.WithTimeout(c.ctx, c.opts.WriteTimeout)
				err = c.conn.Write(ctx, job.typ, job.frame)
				cancel()
				if err != nil {
					// The stream may hold half a frame; nothing can follow it.
					c.abort(fmt.Errorf("client: write failed: %w", err))
				}
			}
			if err != nil && job.abandon != nil {
				job.abandon()
			}
			job.result <- err
		}
	}
}

// errSkipped is the writer's result for a job whose caller's context ended
// before the frame was written.
var errSkipped = errors.New("client: request abandoned before it was sent")

// writeFailed returns the error for a caller whose frame could not be
// written: the connection is being dropped, so it waits for the end and
// returns Err.
func (c *link) writeFailed(ctx context.Context, err error) error {
	if errors.Is(err, errSkipped) {
		return ctx.Err()
	}
	<-c.done
	return c.Err()
}
