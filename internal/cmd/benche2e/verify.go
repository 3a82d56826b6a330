package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"runtime"
	"time"
)

// verifyCost returns the CPU time of one bare ed25519.Verify of a 32-byte
// message (the size of the digest Ratatoskr signs), measured on one
// goroutine locked to its OS thread, with the thread's CPU clock, over a
// loop of about d of wall time. Thread CPU time, like the servers' /proc
// figures, leaves out the time the thread waited for a CPU.
func verifyCost(d time.Duration) (time.Duration, error) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return 0, err
	}
	msg := make([]byte, 32)
	rand.Read(msg)
	sig := ed25519.Sign(key, msg)

	// The goroutine is unlocked, never left locked to exit: a thread that
	// exits would kill the servers started from it (see childAttr).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, err := threadCPU()
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(d)
	n := 0
	for time.Now().Before(deadline) {
		for range 16 {
			if !ed25519.Verify(pub, msg, sig) {
				return 0, errors.New("ed25519.Verify refused a valid signature")
			}
		}
		n += 16
	}
	end, err := threadCPU()
	if err != nil {
		return 0, err
	}
	return (end - start) / time.Duration(n), nil
}
