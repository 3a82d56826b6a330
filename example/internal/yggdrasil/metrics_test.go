package yggdrasil_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/exchange"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/yggdrasil"
)

// GET /metrics serves the Ratatoskr metrics of the server's handler: after
// a device's whole exchange and a call to a service the server does not
// have, the families are there with the counts of what happened.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, yggdrasil.Config{})
	var out bytes.Buffer
	if err := exchange.Run(t.Context(), devExchange(ts.url, "alice"), &out); err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out.String())
	}
	// The exchange ended with a DISCONNECT; its connection's end is
	// counted once the server has closed it.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(scrape(t, ts), `ratatoskr_connections_closed_total{reason="disconnect"} 1`) {
		if time.Now().After(deadline) {
			t.Fatal("the exchange's connection was not counted as closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	bob := dial(t, ts.url, "bob", "phone-1")
	if code := callJSON(t, bob, "valhalla", []byte("{}"), nil); code != envelope.CodeUnknownService {
		t.Fatalf("valhalla: got code %q, want %s", code, envelope.CodeUnknownService)
	}

	body := scrape(t, ts)
	for _, family := range []string{
		"ratatoskr_connections", "ratatoskr_connections_opened_total", "ratatoskr_connections_closed_total",
		"ratatoskr_handshakes_total", "ratatoskr_requests_total", "ratatoskr_request_duration_seconds",
		"ratatoskr_replay_checks_total", "ratatoskr_replay_check_duration_seconds",
		"ratatoskr_received_bytes_total", "ratatoskr_sent_payload_bytes_total",
	} {
		if !strings.Contains(body, "\n# TYPE "+family+" ") {
			t.Errorf("family %s missing", family)
		}
	}
	for _, line := range []string{
		`ratatoskr_connections 1`,
		`ratatoskr_connections_opened_total 2`,
		`ratatoskr_handshakes_total{code="OK",kind="handshake"} 2`,
		`ratatoskr_requests_total{code="OK",service="echo",type="business"} 1`,
		`ratatoskr_requests_total{code="OK",service="nornen",type="business"} 2`,
		`ratatoskr_requests_total{code="OK",service="heidrun",type="business"} 1`,
		`ratatoskr_requests_total{code="application",service="heidrun",type="business"} 1`,
		`ratatoskr_requests_total{code="OK",service="",type="heartbeat"} 1`,
		`ratatoskr_requests_total{code="OK",service="",type="disconnect"} 1`,
		`ratatoskr_requests_total{code="UNKNOWN_SERVICE",service="other",type="business"} 1`,
		`ratatoskr_request_duration_seconds_count{service="nornen",type="business"} 2`,
		`ratatoskr_replay_checks_total{outcome="recorded"} 10`, // two handshakes, eight requests
	} {
		if !strings.Contains(body, "\n"+line+"\n") {
			t.Errorf("no line %s", line)
		}
	}
	if t.Failed() || testing.Verbose() {
		var lines []string
		for l := range strings.Lines(body) {
			if strings.HasPrefix(l, "ratatoskr_") && !strings.Contains(l, "_bucket{") {
				lines = append(lines, l)
			}
		}
		t.Logf("GET /metrics, without the buckets:\n%s", strings.Join(lines, ""))
	}
}

// scrape GETs /metrics and returns the body.
func scrape(t *testing.T, ts *testServer) string {
	t.Helper()
	resp, err := ts.srv.Client().Get(ts.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return string(b)
}
