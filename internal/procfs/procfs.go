// Package procfs reads a process's CPU time and resident memory from
// Linux's /proc, for the load generators (make bench-e2e, ratatoskr bench).
package procfs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicksPerSecond is USER_HZ, the unit of utime and stime in
// /proc/PID/stat (what `getconf CLK_TCK` prints). The kernel fixes it at
// 100 for user space on every architecture Go supports on Linux, whatever
// the kernel's internal HZ, so it is a constant here rather than read from
// the auxiliary vector.
const clockTicksPerSecond = 100

// Tick is the duration of one clock Tick, the resolution of ProcessCPU.
const Tick = time.Second / clockTicksPerSecond

// ProcessCPU returns the CPU time process pid has used so far, user plus
// system, with a resolution of one Tick (10 ms).
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	ticks, err := parseStatCPU(string(b))
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ticks) * Tick, nil
}

// parseStatCPU returns utime + stime, in clock ticks, from the content of a
// /proc/PID/stat file. The command name (field 2) is in parentheses and may
// itself contain spaces and parentheses, so the fields are counted from the
// last ')': the next one is field 3 (state), utime is field 14 and stime
// field 15 (proc(5)).
func parseStatCPU(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no ')' after the command name")
	}
	f := strings.Fields(stat[i+1:])
	const utime, stime = 14 - 3, 15 - 3 // indexes in f, which starts at field 3
	if len(f) <= stime {
		return 0, fmt.Errorf("%d fields after the command name, want at least %d", len(f), stime+1)
	}
	u, err := strconv.ParseUint(f[utime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	s, err := strconv.ParseUint(f[stime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return u + s, nil
}

// ProcessRSSKiB returns the resident set size of process pid, in KiB
// (VmRSS in /proc/PID/status).
func ProcessRSSKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	kib, err := parseStatusKiB(string(b), "VmRSS")
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return kib, nil
}

// parseStatusKiB returns the value of field (for instance "VmRSS") from the
// content of a /proc/PID/status file, whose memory lines read
// "VmRSS:\t    5120 kB" (the kernel's "kB" means KiB).
func parseStatusKiB(status, field string) (int64, error) {
	for line := range strings.Lines(status) {
		name, value, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(value)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: unexpected value %q", field, strings.TrimSpace(value))
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", field, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("no %s line", field)
}
