package envelope_test

import (
	"testing"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

func TestLimitsRoundTrip(t *testing.T) {
	for _, l := range []envelope.Limits{
		{},
		{MaxInFlight: 64},
		{MaxInFlight: 8, RequestRate: 100, RequestBurst: 300},
		{MaxInFlight: 1, RequestRate: 0.5, RequestBurst: 1},
	} {
		got := envelope.LimitsOf(&pb.RatatoskrResponse{Metadata: l.Metadata()})
		if got != l {
			t.Errorf("LimitsOf(%v.Metadata()) = %v", l, got)
		}
	}
	bad := &pb.RatatoskrResponse{Metadata: map[string]string{
		envelope.MetadataMaxInFlight: "-3", envelope.MetadataRequestRate: "NaN", envelope.MetadataRequestBurst: "x",
	}}
	if got := envelope.LimitsOf(bad); got != (envelope.Limits{}) {
		t.Errorf("malformed limits read as %v", got)
	}
}
