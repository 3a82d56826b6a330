package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// stored counts the keys held in every shard, without sweeping.
func (m *Memory) stored() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}

func TestMemoryAllowSweeps(t *testing.T) {
	// Allow alone forgets idle keys, shard by shard, at most once per refill
	// period: no caller needs to call Len for memory to stay bounded.
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewMemory(Limit{Rate: 10, Burst: 5}, &MemoryOptions{Now: func() time.Time { return now }})
	ctx := context.Background()
	allow := func(prefix string, n int) {
		t.Helper()
		for i := range n {
			if res, err := m.Allow(ctx, fmt.Sprintf("%s-%d", prefix, i)); err != nil || !res.Allowed {
				t.Fatalf("Allow = %+v, %v", res, err)
			}
		}
	}
	allow("quiet", 1000)
	if n := m.stored(); n != 1000 {
		t.Fatalf("%d keys stored, want 1000", n)
	}

	// Within the refill period, no sweep: the quiet keys stay, though full.
	now = now.Add(400 * time.Millisecond)
	allow("early", 1000)
	if n := m.stored(); n != 2000 {
		t.Fatalf("%d keys stored before a refill period passed, want 2000", n)
	}

	// A full period after the first sweep point, traffic on 1000 new keys
	// reaches every shard and drops every key whose bucket is full.
	now = now.Add(600 * time.Millisecond)
	allow("busy", 1000)
	if n := m.stored(); n != 1000 {
		t.Fatalf("%d keys stored after a refill period, want the 1000 busy keys", n)
	}
}

// A rate so low that its refill time overflows a Duration is not Valid
// (it would otherwise allow everything).
func TestLimitValidOverflow(t *testing.T) {
	for _, l := range []Limit{{Rate: 1e-11, Burst: 1}, {Rate: 1e-9, Burst: 1000}} {
		if l.Valid() {
			t.Errorf("%+v is Valid", l)
		}
	}
	if !(Limit{Rate: 1e-6, Burst: 1}).Valid() {
		t.Error("one request per 11.6 days is a valid limit")
	}
}
