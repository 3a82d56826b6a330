package procfs

import (
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		stat string
		want uint64
		ok   bool
	}{
		{
			name: "plain",
			stat: "4242 (example-server) S 1 4242 4242 0 -1 4194560 1520 0 0 0 731 289 0 0 20 0 6 0 12345 1300000000 3000 18446744073709551615\n",
			want: 731 + 289,
			ok:   true,
		},
		{
			name: "command with spaces and parentheses",
			stat: "7 (a ) b) (c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1",
			want: 11,
			ok:   true,
		},
		{name: "truncated", stat: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 5", ok: false},
		{name: "no command", stat: "7 x R 1", ok: false},
		{name: "not a number", stat: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 five 6 0", ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStatCPU(tt.stat)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseStatCPU = %d, %v; want %d, ok %v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestParseStatusKiB(t *testing.T) {
	t.Parallel()
	const status = "Name:\texample-server\nVmPeak:\t 1300000 kB\nVmRSS:\t   12345 kB\nRssAnon:\t    8000 kB\nThreads:\t6\n"
	tests := []struct {
		status, field string
		want          int64
		ok            bool
	}{
		{status, "VmRSS", 12345, true},
		{status, "RssAnon", 8000, true},
		{status, "VmSwap", 0, false},            // absent
		{status, "Threads", 0, false},           // no unit
		{"VmRSS:\t12x kB\n", "VmRSS", 0, false}, // not a number
		{"VmRSS:\t12 kB", "VmRSS", 12, true},    // no final newline
	}
	for _, tt := range tests {
		got, err := parseStatusKiB(tt.status, tt.field)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseStatusKiB(%q, %s) = %d, %v; want %d, ok %v", tt.status, tt.field, got, err, tt.want, tt.ok)
		}
	}
}

// TestOwnProcess reads this process's own files, so that the parsers meet
// the real format of the kernel they run on.
func TestOwnProcess(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	if _, err := ProcessCPU(os.Getpid()); err != nil {
		t.Error(err)
	}
	if kib, err := ProcessRSSKiB(os.Getpid()); err != nil || kib <= 0 {
		t.Errorf("ProcessRSSKiB = %d, %v; want a positive size", kib, err)
	}
}
