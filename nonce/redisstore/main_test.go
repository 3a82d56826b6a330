package redisstore_test

import (
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }
