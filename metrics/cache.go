package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// A vector's children are looked up by hashing their label values on every
// With call; the Observer resolves each combination once instead and
// keeps the child in a cell, found by index. Cells fill on first use, so
// only combinations that happened are exported. Two events racing to fill
// a cell get the same child from the vector, so either store is right.

// counterCell caches one child of a CounterVec.
type counterCell struct {
	p atomic.Pointer[prometheus.Counter]
}

// observerCell caches one child of a HistogramVec.
type observerCell struct {
	p atomic.Pointer[prometheus.Observer]
}

// enumCounter is a CounterVec of one label whose values are a fixed set
// known in advance; any other value is counted as "other", so that the
// label's values stay bounded whatever an event carries.
type enumCounter struct {
	vec    *prometheus.CounterVec
	index  map[string]int // known value to its cell; "other" is the last
	values []string
	cells  []counterCell
}

func newEnumCounter(vec *prometheus.CounterVec, known []string) enumCounter {
	e := enumCounter{vec: vec, index: make(map[string]int, len(known))}
	for _, v := range known {
		if _, dup := e.index[v]; !dup && v != labelOther {
			e.index[v] = len(e.values)
			e.values = append(e.values, v)
		}
	}
	e.values = append(e.values, labelOther)
	e.cells = make([]counterCell, len(e.values))
	return e
}

func (e *enumCounter) inc(v string) {
	i, ok := e.index[v]
	if !ok {
		i = len(e.values) - 1
	}
	if p := e.cells[i].p.Load(); p != nil {
		(*p).Inc()
		return
	}
	e.slow(i).Inc()
}

func (e *enumCounter) slow(i int) prometheus.Counter {
	c := e.vec.WithLabelValues(e.values[i])
	e.cells[i].p.Store(&c)
	return c
}

// The values of the fixed label sets ratatoskrhttp defines.
var (
	closeReasons = strs(
		ratatoskrhttp.ClosedByPeer, ratatoskrhttp.ClosedDisconnect, ratatoskrhttp.ClosedExpired,
		ratatoskrhttp.ClosedShutdown, ratatoskrhttp.ClosedReplaced, ratatoskrhttp.ClosedKilled,
		ratatoskrhttp.ClosedHandshakeFailed, ratatoskrhttp.ClosedHandshakeTime, ratatoskrhttp.ClosedAbuse,
		ratatoskrhttp.ClosedUnresponsive, ratatoskrhttp.ClosedInternal,
	)
	limitKinds = strs(
		ratatoskrhttp.LimitDeviceRate, ratatoskrhttp.LimitUserRate, ratatoskrhttp.LimitServiceRate,
		ratatoskrhttp.LimitInFlight, ratatoskrhttp.LimitSessions, ratatoskrhttp.LimitConnections,
		ratatoskrhttp.LimitPendingPerAddr, ratatoskrhttp.LimitHandshakeRate, ratatoskrhttp.LimitHandshakes,
		ratatoskrhttp.LimitProtocolErrors, ratatoskrhttp.LimitReplayStoreShare,
	)
	replayOutcomes = strs(ratatoskrhttp.ReplayRecorded, ratatoskrhttp.ReplayDetected, ratatoskrhttp.ReplayUnavailable)
)

func strs[S ~string](v ...S) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = string(s)
	}
	return out
}
