package envelope_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/internal/forge"
	"github.com/ratatoskr-proto/ratatoskr/nonce"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Every re-cut of an accepted frame, and every change to what v1 does not
// sign, is a replay: the record is keyed on the signed content.
func TestResplitIsReplay(t *testing.T) {
	f := newFixture(t, nil)
	req := f.business(t, []byte("pay 1000 to alice, order 7"))
	if err := f.check(t, req); err != nil {
		t.Fatal(err)
	}
	variants := map[string]*pb.RatatoskrRequest{}
	for _, k := range []int{8, 1, -1, -8, -26} {
		variants[fmt.Sprintf("moved %d", k)] = forge.MoveBoundary(req, k)
	}
	heartbeat := proto.Clone(req).(*pb.RatatoskrRequest)
	heartbeat.MessageType = pb.MessageType_HEARTBEAT
	variants["as heartbeat"] = heartbeat
	rerouted := proto.Clone(req).(*pb.RatatoskrRequest)
	rerouted.Metadata = map[string]string{envelope.MetadataService: "heidrun"}
	variants["rerouted"] = rerouted
	for name, v := range variants {
		d1, d2 := envelope.Digest(req), envelope.Digest(v)
		if d1 != d2 {
			t.Fatalf("%s: digest changed, the variant is not a replay of the same signed content", name)
		}
		if err := f.check(t, v); envelope.CodeOf(err) != envelope.CodeReplayDetected {
			t.Errorf("%s: %v, want REPLAY_DETECTED", name, err)
		}
	}
	if !bytes.Equal(envelope.ReplayKey(req), envelope.ReplayKey(forge.MoveBoundary(req, 4))) {
		t.Fatal("ReplayKey differs between re-splits")
	}
}

// A replay record outlives every instant its frame is acceptable, for a
// frame stamped at either edge of the window, first seen at any fraction of
// a second: the frame is refused as a replay up to the last nanosecond its
// timestamp passes, and for its timestamp from then on.
func TestReplayRecordOutlivesFrame(t *testing.T) {
	for _, frac := range []time.Duration{0, 1, time.Second / 2, time.Second - 1} {
		for _, edge := range []string{"future", "past"} {
			t.Run(fmt.Sprintf("%s+%v", edge, frac), func(t *testing.T) {
				now := t0
				clock := func() time.Time { return now }
				f := newFixture(t, &envelope.ValidatorOptions{Nonces: nonce.NewMemory(&nonce.MemoryOptions{Now: clock})})
				o := f.v.Options()
				first := t0.Add(frac)
				ts := first.Add(o.FutureSkew).Unix()
				if edge == "past" {
					ts = first.Add(-o.Window).Unix()
				}
				f.now, now = first, first
				req := f.business(t, []byte("x"))
				req.Timestamp = ts
				f.resign(req)
				if err := f.check(t, req); err != nil {
					t.Fatalf("first: %v", err)
				}
				// The frame's timestamp is acceptable while now < ts+1s+window.
				last := time.Unix(ts+1, 0).Add(o.Window - 1)
				for _, at := range []time.Time{first.Add(time.Second), first.Add(o.Window), last} {
					if at.After(last) {
						continue
					}
					f.now, now = at, at
					if err := f.check(t, req); envelope.CodeOf(err) != envelope.CodeReplayDetected {
						t.Fatalf("at first+%v: %v, want REPLAY_DETECTED", at.Sub(first), err)
					}
				}
				f.now, now = last.Add(1), last.Add(1)
				if err := f.check(t, req); envelope.CodeOf(err) != envelope.CodeTimestampInvalid {
					t.Fatalf("after the window: %v, want TIMESTAMP_INVALID", err)
				}
			})
		}
	}
}

// With the previous TTL (window + skew) the record of a frame stamped at
// the future edge was gone a second before the frame stopped being
// acceptable: keep ReplayTTL at least a second longer.
func TestReplayTTLCoversRounding(t *testing.T) {
	v := envelope.NewValidator(nil)
	o := v.Options()
	if v.ReplayTTL() < o.Window+o.FutureSkew+time.Second {
		t.Fatalf("ReplayTTL %v < window %v + skew %v + 1s", v.ReplayTTL(), o.Window, o.FutureSkew)
	}
}
