package yggdrasil_test

import (
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/internal/redistest"
)

// TestMain silences go-redis (TestRedisUnreachable provokes its dial
// failures on purpose) and checks for leaked goroutines.
func TestMain(m *testing.M) { redistest.Main(m) }
