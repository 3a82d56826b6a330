package loadgen

import (
	"fmt"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/internal/procfs"
)

// ProcessCPU returns the CPU time (user plus system) process pid has used so
// far, read from /proc/PID/stat, with a resolution of 10 ms. It works on
// Linux only.
func ProcessCPU(pid int) (time.Duration, error) {
	d, err := procfs.ProcessCPU(pid)
	if err != nil {
		return 0, fmt.Errorf("loadgen: server CPU: %w", err)
	}
	return d, nil
}
