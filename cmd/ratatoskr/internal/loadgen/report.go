package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of a run. Its JSON form is what `ratatoskr bench
// --json` prints.
type Report struct {
	URL            string  `json:"url"`
	Service        string  `json:"service"`
	Connections    int     `json:"connections"`
	InFlight       int     `json:"inflight"`
	PayloadSize    int     `json:"payload_size"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Requests counts the requests answered, refused ones included.
	Requests int64 `json:"requests"`
	// OK counts the successful answers.
	OK int64 `json:"ok"`
	// Errors counts the other requests by error code: the server's refusals
	// (RATE_LIMITED among them) and, as UNAVAILABLE, requests lost to a
	// timeout or a connection's end.
	Errors map[string]int64 `json:"errors"`
	// RateLimited is Errors["RATE_LIMITED"].
	RateLimited int64 `json:"rate_limited"`
	// Throughput is Requests per second, OKThroughput OK per second.
	Throughput   float64 `json:"throughput"`
	OKThroughput float64 `json:"ok_throughput"`
	// Latency is measured on the successful requests, from Send to the
	// answer.
	Latency Latency `json:"latency_us"`
	Signing Signing `json:"signing"`
	// Server is set with Config.ServerPID.
	Server *Server `json:"server,omitempty"`
}

// Latency holds percentiles in microseconds (nearest rank).
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

// Signing says whether signing ahead kept up: Goroutines signers (one per
// connection) signed Signed requests; RatePerSecond is what they could
// sign together while busy, to compare with Throughput; Stalls counts the
// times a sender found no signed request ready.
type Signing struct {
	Goroutines    int     `json:"goroutines"`
	Signed        int64   `json:"signed"`
	RatePerSecond float64 `json:"rate_per_second"`
	Stalls        int64   `json:"stalls"`
	// BusyFraction is the signers' busy time over their number times the
	// window: near 1, signing is the bottleneck.
	BusyFraction float64 `json:"busy_fraction"`

	busy time.Duration
}

// Server is the server's CPU over the measured window.
type Server struct {
	PID int `json:"pid"`
	// CPUMicros is user plus system CPU time, with a 10 ms resolution.
	CPUMicros int64 `json:"cpu_us"`
	// CPUMicrosPerRequest is CPUMicros over the requests answered.
	CPUMicrosPerRequest float64 `json:"cpu_us_per_request"`
}

func (s *Signing) add(p *presigner) {
	s.Goroutines++
	s.Signed += p.signed
	s.busy += p.busy
	if p.busy > 0 {
		s.RatePerSecond += float64(p.signed) / p.busy.Seconds()
	}
}

func (s *Signing) finish(stalls int64, window time.Duration) {
	s.Stalls = stalls
	if s.Goroutines > 0 && window > 0 {
		s.BusyFraction = min(1, s.busy.Seconds()/(float64(s.Goroutines)*window.Seconds()))
	}
}

func serverReport(pid int, cpu time.Duration, requests int64) *Server {
	s := &Server{PID: pid, CPUMicros: cpu.Microseconds()}
	if requests > 0 {
		s.CPUMicrosPerRequest = float64(s.CPUMicros) / float64(requests)
	}
	return s
}

// latencies merges the senders' latencies and computes the percentiles.
func latencies(parts [][]time.Duration) Latency {
	var all []time.Duration
	for _, p := range parts {
		all = append(all, p...)
	}
	if len(all) == 0 {
		return Latency{}
	}
	slices.Sort(all)
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	return Latency{
		Count: int64(len(all)),
		Mean:  us(sum) / float64(len(all)),
		P50:   us(percentile(all, 50)),
		P90:   us(percentile(all, 90)),
		P99:   us(percentile(all, 99)),
		P999:  us(percentile(all, 99.9)),
		Max:   us(all[len(all)-1]),
	}
}

// percentile returns the nearest-rank p-th percentile of sorted, which is
// not empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p/100*float64(len(sorted))+0.9999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// WriteText writes r for a human.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "target      %s  service %q, %d connections x %d in flight, %d-byte payload\n",
		r.URL, r.Service, r.Connections, r.InFlight, r.PayloadSize)
	fmt.Fprintf(&b, "window      %.2fs\n", r.ElapsedSeconds)
	fmt.Fprintf(&b, "requests    %d answered, %d ok, %d errors (%d RATE_LIMITED)\n",
		r.Requests, r.OK, r.Requests-r.OK, r.RateLimited)
	codes := make([]string, 0, len(r.Errors))
	for c := range r.Errors {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(&b, "  %-22s %d\n", c, r.Errors[c])
	}
	fmt.Fprintf(&b, "throughput  %.0f req/s (%.0f ok/s)\n", r.Throughput, r.OKThroughput)
	l := r.Latency
	fmt.Fprintf(&b, "latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (mean %s, %d ok requests)\n",
		usText(l.P50), usText(l.P90), usText(l.P99), usText(l.P999), usText(l.Max), usText(l.Mean), l.Count)
	s := r.Signing
	fmt.Fprintf(&b, "signing     requests were signed ahead by %d goroutines; signing rate %.0f/s vs sent %.0f/s (signers %.0f%% busy, %d stalls)\n",
		s.Goroutines, s.RatePerSecond, r.Throughput, 100*s.BusyFraction, s.Stalls)
	if r.Server != nil {
		fmt.Fprintf(&b, "server      pid %d: %.3fs CPU, %.1f us CPU per request\n",
			r.Server.PID, float64(r.Server.CPUMicros)/1e6, r.Server.CPUMicrosPerRequest)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func usText(us float64) string {
	d := time.Duration(us * float64(time.Microsecond))
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}
