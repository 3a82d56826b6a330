package auth

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the tests on leaked goroutines: those of a remote JWKS
// (stopped by JWT.Close), of test servers and of HTTP clients.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
