package logbuf_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a Writer's flusher outlives the test that made it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
