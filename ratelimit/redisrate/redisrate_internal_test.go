package redisrate

import (
	"math"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"

	"github.com/ratatoskr-proto/ratatoskr/ratelimit"
)

func TestConvert(t *testing.T) {
	for _, tc := range []struct {
		in   ratelimit.Limit
		want redis_rate.Limit
	}{
		{ratelimit.Limit{Rate: 20, Burst: 5}, redis_rate.Limit{Rate: 20, Burst: 5, Period: time.Second}},
		{ratelimit.Limit{Rate: 1, Burst: 1}, redis_rate.Limit{Rate: 1, Burst: 1, Period: time.Second}},
		{ratelimit.Limit{Rate: 3, Burst: 1}, redis_rate.Limit{Rate: 3, Burst: 1, Period: time.Second}},
		{ratelimit.Limit{Rate: 0.5, Burst: 2}, redis_rate.Limit{Rate: 1, Burst: 2, Period: 2 * time.Second}},
		{ratelimit.Limit{Rate: 2.5, Burst: 1}, redis_rate.Limit{Rate: 1, Burst: 1, Period: 400 * time.Millisecond}},
		{ratelimit.Limit{Rate: 1.0 / 3, Burst: 1}, redis_rate.Limit{Rate: 1, Burst: 1, Period: 3 * time.Second}},
		{ratelimit.Limit{Rate: 1.0 / 60, Burst: 10}, redis_rate.Limit{Rate: 1, Burst: 10, Period: time.Minute}},
		{ratelimit.Limit{Rate: 1.0 / 86400, Burst: 1}, redis_rate.Limit{Rate: 1, Burst: 1, Period: 24 * time.Hour}},
		{ratelimit.Limit{Rate: 0.3, Burst: 1}, redis_rate.Limit{Rate: 1, Burst: 1, Period: 3333333333}},
		{ratelimit.Limit{Rate: 1e12, Burst: 1}, redis_rate.Limit{Rate: 1, Burst: 1, Period: 1}}, // beyond int32: clamped to 1 ns
	} {
		got, ok := convert(tc.in)
		if !ok || got != tc.want {
			t.Errorf("convert(%+v) = %+v, %v; want %+v", tc.in, got, ok, tc.want)
		}
		// Whatever the form, a token comes back every 1/Rate seconds.
		if iv, want := got.Period.Seconds()/float64(got.Rate), 1/tc.in.Rate; math.Abs(iv-want) > 1e-9*want+1e-9 {
			t.Errorf("convert(%+v): interval %gs, want %gs", tc.in, iv, want)
		}
	}
	for _, l := range []ratelimit.Limit{
		{}, {Rate: -1, Burst: 1}, {Rate: math.NaN(), Burst: 1}, {Rate: math.Inf(1), Burst: 1},
		{Rate: 1, Burst: 0}, {Rate: 1e-11, Burst: 1}, // one per 3000 years
	} {
		if got, ok := convert(l); ok {
			t.Errorf("convert(%+v) = %+v, want refused", l, got)
		}
	}
}
