//go:build linux

package main

import (
	"fmt"
	"syscall"
	"time"
)

// supported reports whether this system has what the bench reads (/proc).
const supported = true

// childAttr returns the process attributes of the servers the bench
// starts: they are killed when the bench dies, even by SIGKILL, so that no
// server outlives it. (The signal follows the OS thread that started the
// child; the bench never lets a thread exit, see threadCPU.)
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// threadCPU returns the CPU time, user plus system, that the calling OS
// thread has used. Callers lock their goroutine to its thread
// (runtime.LockOSThread) around the span they measure, and unlock it.
func threadCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// ensureNoFile makes sure this process may open need file descriptors,
// raising its soft RLIMIT_NOFILE up to the hard limit if needed (Go
// already does so at start-up; this also checks the result). The servers
// are Go programs and raise their own.
func ensureNoFile(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= need {
		return nil
	}
	if lim.Max < need {
		return fmt.Errorf("need %d file descriptors, the hard limit is %d: raise it (ulimit -Hn) or lower -idle-conns", need, lim.Max)
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}
