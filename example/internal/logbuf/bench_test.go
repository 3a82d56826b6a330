package logbuf_test

import (
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/example/internal/logbuf"
)

// BenchmarkRequestLog logs one request record per op to /dev/null, a real file (so each
// unbuffered record is a write(2)), from parallel goroutines: straight, and through a Writer.
func BenchmarkRequestLog(b *testing.B) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(func() { devNull.Close() })
	run := func(b *testing.B, w io.Writer) {
		logger := slog.New(slog.NewTextHandler(w, nil))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				logger.Info("ratatoskr: request", "type", "BUSINESS_REQUEST", "request_id", "8dbbb8c6-9af6-4e87-849a-f351254b7291",
					"device", "phone-1", "user", "alice", "remote", "127.0.0.1:51434", "service", "echo")
			}
		})
	}
	b.Run("Unbuffered", func(b *testing.B) { run(b, devNull) })
	b.Run("Buffered", func(b *testing.B) {
		w := logbuf.New(devNull, nil)
		defer w.Close()
		run(b, w)
	})
}
