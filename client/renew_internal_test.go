package client

import (
	"testing"
	"time"

	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

func TestRenewDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		renewBefore, lifetime, want time.Duration
	}{
		{0, time.Hour, 55 * time.Minute},                  // default: 5 min, less than a tenth
		{0, 24 * time.Hour, 24*time.Hour - 5*time.Minute}, // the server's default cap
		{0, 10 * time.Minute, 9 * time.Minute},            // default: a tenth
		{0, 3 * time.Second, 2700 * time.Millisecond},
		{10 * time.Minute, time.Hour, 50 * time.Minute},
		{2 * time.Second, 3 * time.Second, 1500 * time.Millisecond}, // at most half the lifetime
		{time.Hour, time.Minute, 30 * time.Second},
	}
	for _, tt := range tests {
		o := Options{RenewBefore: tt.renewBefore}
		if got := o.renewDelay(tt.lifetime); got != tt.want {
			t.Errorf("RenewBefore %v, lifetime %v: renew after %v, want %v", tt.renewBefore, tt.lifetime, got, tt.want)
		}
	}
}

func TestLifetime(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	expires := now.Add(time.Hour)
	tests := []struct {
		name     string
		skew     time.Duration // of the device's clock
		serverTS int64         // the answer's timestamp; 0: none
		want     time.Duration
	}{
		{"clocks agree", 0, now.Unix(), time.Hour},
		{"device clock late", -10 * time.Minute, now.Unix(), time.Hour},
		{"device clock early", 10 * time.Minute, now.Unix(), 50 * time.Minute},
		{"no server timestamp", -10 * time.Minute, 0, 70 * time.Minute},
	}
	for _, tt := range tests {
		c := &link{opts: Options{Now: func() time.Time { return now.Add(tt.skew) }}}
		got := c.lifetime(Session{ExpiresAt: expires}, &pb.RatatoskrResponse{Timestamp: tt.serverTS})
		if got != tt.want {
			t.Errorf("%s: lifetime %v, want %v", tt.name, got, tt.want)
		}
	}
	c := &link{opts: Options{Now: func() time.Time { return now }}}
	if got := c.lifetime(Session{}, &pb.RatatoskrResponse{Timestamp: now.Unix()}); got != 0 {
		t.Errorf("lifetime of a session without expiry: %v, want 0", got)
	}
}
