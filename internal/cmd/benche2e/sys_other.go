//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

// supported reports whether this system has what the bench reads (/proc).
const supported = false

// childAttr returns nil: only Linux can tie a child's life to the bench.
func childAttr() *syscall.SysProcAttr { return nil }

// threadCPU is not available outside Linux.
func threadCPU() (time.Duration, error) {
	return 0, errors.New("thread CPU time needs Linux")
}

// ensureNoFile does nothing outside Linux, where the bench does not run.
func ensureNoFile(need uint64) error { return nil }
