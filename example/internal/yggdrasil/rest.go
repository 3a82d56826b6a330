package yggdrasil

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/ratatoskr-proto/ratatoskr/example/internal/api"
)

// healthz answers load balancers and the demo's readiness wait.
func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok"))
}

// listProviders serves GET /api/providers: the marketplace's providers, the
// same data the nornen service works on.
func (s *Server) listProviders(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, api.Providers{Providers: s.market.Providers()})
}

// listOffers serves GET /api/offers.
func (s *Server) listOffers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, api.Offers{Offers: s.market.Offers()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// accessLog logs one line per REST request.
func accessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			logger.Info("http: request", "method", r.Method, "path", r.URL.Path,
				"status", ww.Status(), "bytes", ww.BytesWritten(), "duration", time.Since(start), "remote", r.RemoteAddr)
		})
	}
}
