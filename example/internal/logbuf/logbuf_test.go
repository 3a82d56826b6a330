package logbuf_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/example/internal/logbuf"
)

// sink is a destination safe for concurrent use that counts its writes and can fail them.
type sink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	fail   error // returned by the next write, once
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail; err != nil {
		s.fail = nil
		return 0, err
	}
	s.writes++
	return s.buf.Write(p)
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *sink) numWrites() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// waitFor polls cond until it holds, for at most five seconds, and returns how long that took.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func write(t *testing.T, w *logbuf.Writer, s string) {
	t.Helper()
	if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
		t.Fatalf("Write(%q) = %d, %v", s, n, err)
	}
}

func closeWriter(t *testing.T, w *logbuf.Writer) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestFlushByTime(t *testing.T) {
	t.Parallel()
	const interval = 50 * time.Millisecond
	var dst sink
	w := logbuf.New(&dst, &logbuf.Options{Interval: interval})
	defer closeWriter(t, w)

	for round, line := range []string{"first\n", "second\n"} {
		start := time.Now()
		write(t, w, line)
		if got := dst.String(); strings.Contains(got, line) && time.Since(start) < interval {
			t.Fatalf("round %d: %q reached the destination before the interval: not buffered", round, line)
		}
		waitFor(t, fmt.Sprintf("round %d to be flushed", round), func() bool { return strings.Contains(dst.String(), line) })
		if elapsed := time.Since(start); elapsed < interval {
			t.Errorf("round %d flushed after %v, before the %v interval", round, elapsed, interval)
		}
	}
	if n := dst.numWrites(); n != 2 {
		t.Errorf("%d writes to the destination, want one per round", n)
	}
}

func TestDefaultIntervalIsASecond(t *testing.T) {
	t.Parallel()
	var dst sink
	w := logbuf.New(&dst, nil)
	defer closeWriter(t, w)
	write(t, w, "level=INFO msg=hello\n")
	took := waitFor(t, "the timed flush", func() bool { return dst.String() != "" })
	// A second, plus generous slack for a loaded machine under -race.
	if took > 2500*time.Millisecond {
		t.Errorf("flushed after %v, want about 1s", took)
	}
	t.Logf("flushed after %v", took.Round(time.Millisecond))
}

func TestCloseFlushes(t *testing.T) {
	t.Parallel()
	var dst sink
	w := logbuf.New(&dst, &logbuf.Options{Interval: time.Hour})
	write(t, w, "a\n")
	write(t, w, "b\n")
	if got := dst.String(); got != "" {
		t.Fatalf("destination holds %q before Close, want it buffered", got)
	}
	closeWriter(t, w)
	if got := dst.String(); got != "a\nb\n" {
		t.Fatalf("after Close the destination holds %q, want %q", got, "a\nb\n")
	}
	// A late record goes straight through.
	write(t, w, "late\n")
	if got := dst.String(); got != "a\nb\nlate\n" {
		t.Fatalf("a write after Close left %q, want it written at once", got)
	}
	if err := w.Flush(); err != nil {
		t.Errorf("Flush after Close = %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	t.Run("Sequential", func(t *testing.T) {
		t.Parallel()
		var dst sink
		w := logbuf.New(&dst, nil)
		write(t, w, "x\n")
		closeWriter(t, w)
		closeWriter(t, w)
		if got := dst.String(); got != "x\n" {
			t.Errorf("destination holds %q, want %q once", got, "x\n")
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		var dst sink
		w := logbuf.New(&dst, nil)
		write(t, w, "x\n")
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := w.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				// Every Close returns after the flush.
				if got := dst.String(); got != "x\n" {
					t.Errorf("after Close the destination holds %q, want %q", got, "x\n")
				}
			})
		}
		wg.Wait()
	})
}

func TestFullBufferGoesOut(t *testing.T) {
	t.Parallel()
	var dst sink
	w := logbuf.New(&dst, &logbuf.Options{Size: 16, Interval: time.Hour})
	defer closeWriter(t, w)
	write(t, w, "0123456789\n")
	if got := dst.String(); got != "" {
		t.Fatalf("destination holds %q, want it buffered", got)
	}
	write(t, w, "abcdefghij\n") // does not fit: the buffer goes out without waiting
	if got := dst.String(); !strings.HasPrefix(got, "0123456789\n") {
		t.Fatalf("destination holds %q, want the full buffer sent on", got)
	}
}

// TestConcurrentWriters writes lines from many goroutines, with a small buffer, a short interval
// and Flush calls racing them: every line arrives once, whole, and in its writer's order.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	const writers, lines = 16, 300
	var dst sink
	w := logbuf.New(&dst, &logbuf.Options{Size: 256, Interval: time.Millisecond})

	stopFlushing := make(chan struct{})
	var flusher sync.WaitGroup
	flusher.Go(func() {
		for {
			select {
			case <-stopFlushing:
				return
			default:
			}
			if err := w.Flush(); err != nil {
				t.Errorf("Flush: %v", err)
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range lines {
				line := fmt.Sprintf("writer=%02d line=%04d %s\n", g, i, strings.Repeat("x", i%40))
				if _, err := w.Write([]byte(line)); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stopFlushing)
	flusher.Wait()
	closeWriter(t, w)

	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(dst.String(), "\n"), "\n")
	for _, line := range got {
		var g, i int
		if _, err := fmt.Sscanf(line, "writer=%02d line=%04d", &g, &i); err != nil || g < 0 || g >= writers {
			t.Fatalf("corrupt line %q", line)
		}
		want := fmt.Sprintf("writer=%02d line=%04d %s", g, i, strings.Repeat("x", i%40))
		if line != want || i != next[g] {
			t.Fatalf("line %q, want %q (writer %d's line %d)", line, want, g, next[g])
		}
		next[g]++
	}
	if len(got) != writers*lines {
		t.Errorf("%d lines arrived, want %d", len(got), writers*lines)
	}
	t.Logf("%d lines in %d writes to the destination", len(got), dst.numWrites())
}

func TestDestinationError(t *testing.T) {
	t.Parallel()
	var dst sink
	w := logbuf.New(&dst, &logbuf.Options{Interval: time.Hour})
	defer closeWriter(t, w)
	broken := errors.New("broken pipe")
	dst.fail = broken
	write(t, w, "lost\n")
	if err := w.Flush(); !errors.Is(err, broken) {
		t.Fatalf("Flush = %v, want %v", err, broken)
	}
	// The failure is not sticky: later records get through.
	write(t, w, "kept\n")
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush after the destination recovered = %v", err)
	}
	if got := dst.String(); got != "kept\n" {
		t.Errorf("destination holds %q, want %q", got, "kept\n")
	}
}

func TestFlushAt(t *testing.T) {
	t.Parallel()
	var dst sink
	w := logbuf.New(&dst, &logbuf.Options{Interval: time.Hour})
	defer closeWriter(t, w)
	logger := slog.New(logbuf.FlushAt(slog.NewTextHandler(w, nil), w, slog.LevelError))

	logger.Info("http: request", "path", "/healthz")
	logger.Warn("refused", "code", "SIGNATURE_INVALID")
	if got := dst.String(); got != "" {
		t.Fatalf("Info and Warn reached the destination at once: %q", got)
	}
	logger.With("component", "test").WithGroup("g").Error("service panicked", "panic", "boom")
	got := dst.String()
	for _, want := range []string{"msg=\"http: request\"", "msg=refused", "level=ERROR", "component=test", "g.panic=boom"} {
		if !strings.Contains(got, want) {
			t.Errorf("after an Error record the destination lacks %s:\n%s", want, got)
		}
	}
	if n := dst.numWrites(); n != 1 {
		t.Errorf("%d writes to the destination, want the three records in one", n)
	}
	if !logger.Enabled(t.Context(), slog.LevelInfo) || logger.Enabled(t.Context(), slog.LevelDebug) {
		t.Error("FlushAt changed which levels are enabled")
	}
}
