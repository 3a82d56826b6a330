// Package logbuf buffers a log stream so that a busy server does not pay a system call for every
// record: Writer collects what is written and passes it on when its buffer fills, at most
// Options.Interval (a second by default) after the oldest byte arrived, and on Flush and Close.
//
// The example server writes one structured record per request; written straight to stderr that
// was one write(2) per request, about 8% of its CPU under load.
//
//	logs := logbuf.New(os.Stderr, nil)
//	defer logs.Close() // flushes: nothing is lost on a clean stop
//	logger := slog.New(logbuf.FlushAt(slog.NewTextHandler(logs, nil), logs, slog.LevelError))
//
// What a buffer costs: a process that dies without Close (a crash, os.Exit, a second SIGINT)
// loses what was written in the last Interval. FlushAt narrows that for the records that matter
// most.
package logbuf

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Options configures New. The zero value (or a nil pointer) selects every default.
type Options struct {
	// Size is the buffer size in bytes; a write that does not fit sends the buffer on at once.
	// Defaults to 64 KiB, a few hundred log records.
	Size int

	// Interval is the longest a byte waits in the buffer before it is sent on. Defaults to 1 s.
	Interval time.Duration
}

const (
	defaultSize     = 64 << 10
	defaultInterval = time.Second
)

// Writer is an io.Writer that buffers what is written to another writer (the destination). The
// buffer is sent on when a write does not fit in it, at most Interval after it stopped being
// empty, on Flush, and on Close.
//
// Each Write is copied into the buffer whole, under a mutex, so records that a handler writes
// with one call each (as slog's handlers do) stay whole and in order. A record larger than the
// space left may reach the destination in two writes, never interleaved with another.
//
// An error from the destination is returned by the Write or Flush that met it; the bytes
// buffered at that moment are dropped, so that later records are written rather than all
// refused. An error met by the timed flush is dropped with them: there is nobody to tell.
//
// New starts one goroutine, which waits while the buffer is empty and sleeps Interval when it is
// not; Close stops it. A Writer is safe for concurrent use by multiple goroutines.
type Writer struct {
	dst      io.Writer
	interval time.Duration

	mu     sync.Mutex
	buf    *bufio.Writer
	closed bool // writes go straight to dst

	dirty     chan struct{} // 1-buffered: a write made the empty buffer non-empty
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the flusher returns
	closeOnce sync.Once
}

var _ io.WriteCloser = (*Writer)(nil)

// New returns a Writer that buffers writes to dst, and starts its flusher; call Close to stop
// it. New does not close dst, nor does Close. opts may be nil; it is not retained or modified.
func New(dst io.Writer, opts *Options) *Writer {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Size <= 0 {
		o.Size = defaultSize
	}
	if o.Interval <= 0 {
		o.Interval = defaultInterval
	}
	w := &Writer{
		dst:      dst,
		interval: o.Interval,
		buf:      bufio.NewWriterSize(dst, o.Size),
		dirty:    make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go w.flusher() // owned by w: Close stops it and waits for it
	return w
}

// Write buffers p. After Close, it writes p straight to the destination, so that a late record
// (a shutdown error logged after the deferred Close) is not lost.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.dst.Write(p)
	}
	wasEmpty := w.buf.Buffered() == 0
	n, err := w.buf.Write(p)
	if err != nil {
		w.buf.Reset(w.dst) // drop the rest; bufio's errors are sticky
		return n, err
	}
	if wasEmpty && w.buf.Buffered() > 0 {
		select {
		case w.dirty <- struct{}{}:
		default: // already signalled
		}
	}
	return n, nil
}

// Flush sends what is buffered to the destination now.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

// flushLocked sends the buffer on; the caller holds w.mu.
func (w *Writer) flushLocked() error {
	if w.buf.Buffered() == 0 {
		return nil
	}
	err := w.buf.Flush()
	if err != nil {
		w.buf.Reset(w.dst)
	}
	return err
}

// Close stops the flusher, waits for it, and flushes what is buffered; later writes go straight
// to the destination. It does not close the destination. Close is safe to call more than once
// and concurrently: every call returns after the first has finished, and later ones return nil.
func (w *Writer) Close() error {
	var err error
	w.closeOnce.Do(func() {
		close(w.stop)
		<-w.done
		w.mu.Lock()
		defer w.mu.Unlock()
		w.closed = true
		err = w.flushLocked()
	})
	return err
}

// flusher flushes the buffer Interval after it stopped being empty, until Close. Whenever the
// buffer holds bytes, either a dirty signal is pending or the flusher is sleeping towards a
// flush, so no byte waits longer than Interval.
func (w *Writer) flusher() {
	defer close(w.done)
	t := time.NewTimer(w.interval)
	t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-w.dirty:
		}
		t.Reset(w.interval)
		select {
		case <-w.stop:
			t.Stop()
			return // Close flushes
		case <-t.C:
		}
		_ = w.Flush() // the error is dropped, with the bytes (see Writer)
	}
}

// FlushAt returns a handler that passes every record to h, which writes to w, and flushes w after
// each record at level or above.
//
// The example server flushes Error records at once: they are rare (a failed start, a service
// panic, a failing listener), so flushing them costs nothing under load, and they are the
// records most worth reading when the process dies before the next timed flush. Warn records are
// not flushed at once on purpose: security refusals are logged at Warn, and a flood of them
// must not bring back a system call per request.
func FlushAt(h slog.Handler, w *Writer, level slog.Leveler) slog.Handler {
	return &flushHandler{Handler: h, w: w, level: level}
}

// flushHandler is the handler FlushAt returns. Enabled comes from the embedded handler.
type flushHandler struct {
	slog.Handler
	w     *Writer
	level slog.Leveler
}

// Handle passes r to the wrapped handler, then flushes w if r is at the flush level or above.
func (h *flushHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= h.level.Level() {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// WithAttrs wraps the wrapped handler's WithAttrs, keeping the flush.
func (h *flushHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &flushHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w, level: h.level}
}

// WithGroup wraps the wrapped handler's WithGroup, keeping the flush.
func (h *flushHandler) WithGroup(name string) slog.Handler {
	return &flushHandler{Handler: h.Handler.WithGroup(name), w: h.w, level: h.level}
}
