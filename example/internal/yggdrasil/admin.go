package yggdrasil

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// DisconnectRequest is the body of POST /admin/disconnect: the sessions
// of user_id, of device_id, or of that user's device, end with code
// (AUTH_FAILED when empty) in their DISCONNECT.
type DisconnectRequest struct {
	UserID   string `json:"user_id"`
	DeviceID string `json:"device_id"`
	Code     string `json:"code"`
}

// DisconnectResponse answers POST /admin/disconnect.
type DisconnectResponse struct {
	Disconnected int `json:"disconnected"`
}

// adminTimeout bounds the wait for the selected sessions to close.
const adminTimeout = 10 * time.Second

// disconnect serves POST /admin/disconnect, the kill switch: it ends the
// selected sessions on this replica and says how many.
func (s *Server) disconnect(w http.ResponseWriter, r *http.Request) {
	var req DisconnectRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.UserID == "" && req.DeviceID == "" {
		http.Error(w, "user_id or device_id is required", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	n, err := s.rt.Disconnect(ctx, ratatoskrhttp.Selector{UserID: req.UserID, DeviceID: req.DeviceID}, envelope.Code(req.Code))
	s.log.Warn("admin: sessions disconnected", "user", req.UserID, "device", req.DeviceID, "code", req.Code, "sessions", n, "remote", r.RemoteAddr)
	status := http.StatusOK
	if err != nil {
		status = http.StatusAccepted // ending, not all closed within adminTimeout
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(DisconnectResponse{Disconnected: n})
}

// requireBearer refuses requests that do not carry token as a bearer
// token, comparing in constant time.
func requireBearer(token string) func(http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := []byte(strings.TrimSpace(r.Header.Get("Authorization")))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="ratatoskr-admin"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
