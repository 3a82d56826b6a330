package yggdrasil_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/api"
	"github.com/ratatoskr-proto/ratatoskr/example/internal/yggdrasil"
)

const adminToken = "admin-token-for-tests-0123456789"

func postAdmin(t *testing.T, ts *testServer, auth, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ts.srv.URL+"/admin/disconnect", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// The admin route ends exactly the selected device's sessions, and only
// for a caller with the admin token.
func TestAdminDisconnect(t *testing.T) {
	ts := newTestServer(t, yggdrasil.Config{AdminToken: adminToken})
	victim := dial(t, ts.url, "alice", "stolen-phone")
	other := dial(t, ts.url, "alice", "tablet")

	for _, auth := range []string{"", "Bearer wrong", adminToken, "Basic " + adminToken} {
		if resp := postAdmin(t, ts, auth, `{"device_id":"stolen-phone"}`); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
		}
	}
	if resp := postAdmin(t, ts, "Bearer "+adminToken, `{}`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("empty selector: status %d, want 400", resp.StatusCode)
	}
	resp := postAdmin(t, ts, "Bearer "+adminToken, `{"user_id":"alice","device_id":"stolen-phone","code":"AUTH_FAILED"}`)
	var out yggdrasil.DisconnectResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.Disconnected != 1 {
		t.Fatalf("disconnect: status %d, %+v, %v", resp.StatusCode, out, err)
	}
	select {
	case <-victim.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the disconnected client is still open")
	}
	if code := envelope.CodeOf(victim.Err()); code != envelope.CodeAuthFailed {
		t.Fatalf("victim ended with %v (%q), want AUTH_FAILED", victim.Err(), code)
	}
	if code := callJSON(t, other, api.ServiceEcho, []byte("still here"), nil); code != "" {
		t.Fatalf("other device: %s", code)
	}
}

// Without an admin token the route does not exist.
func TestAdminRouteOffByDefault(t *testing.T) {
	ts := newTestServer(t, yggdrasil.Config{})
	if resp := postAdmin(t, ts, "Bearer "+adminToken, `{"device_id":"x"}`); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
}
