package envelope

import (
	"strconv"

	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Metadata keys of an accepting CONNECTION_RESPONSE that announce the
// session's limits, so that a client can hold its own requests to them
// instead of meeting RATE_LIMITED. Values are decimal numbers.
const (
	// MetadataMaxInFlight is how many business requests the session serves
	// at once; one more, before an answer arrives, is refused with
	// RATE_LIMITED.
	MetadataMaxInFlight = "limit.max_in_flight"
	// MetadataRequestRate is the sustained requests per second the session
	// accepts, every type but DISCONNECT counted; absent when there is no
	// rate limit.
	MetadataRequestRate = "limit.request_rate"
	// MetadataRequestBurst is how many requests may come at once above the
	// rate; absent with the rate.
	MetadataRequestBurst = "limit.request_burst"
)

// Limits are a session's limits as a CONNECTION_RESPONSE announces them.
// A zero field means "not announced".
type Limits struct {
	MaxInFlight  int     // business requests served at once
	RequestRate  float64 // requests per second
	RequestBurst int     // requests above the rate at once
}

// Metadata returns l as CONNECTION_RESPONSE metadata; zero fields are left
// out.
func (l Limits) Metadata() map[string]string {
	md := make(map[string]string, 3)
	if l.MaxInFlight > 0 {
		md[MetadataMaxInFlight] = strconv.Itoa(l.MaxInFlight)
	}
	if l.RequestRate > 0 {
		md[MetadataRequestRate] = strconv.FormatFloat(l.RequestRate, 'g', -1, 64)
		if l.RequestBurst > 0 {
			md[MetadataRequestBurst] = strconv.Itoa(l.RequestBurst)
		}
	}
	return md
}

// LimitsOf reads the limits a CONNECTION_RESPONSE announces. Missing,
// malformed, zero or negative values read as zero (not announced).
func LimitsOf(resp *pb.RatatoskrResponse) Limits {
	md := resp.GetMetadata()
	var l Limits
	if n, err := strconv.Atoi(md[MetadataMaxInFlight]); err == nil && n > 0 {
		l.MaxInFlight = n
	}
	if r, err := strconv.ParseFloat(md[MetadataRequestRate], 64); err == nil && r > 0 && r < 1e9 {
		l.RequestRate = r
		if b, err := strconv.Atoi(md[MetadataRequestBurst]); err == nil && b > 0 {
			l.RequestBurst = b
		}
	}
	return l
}
