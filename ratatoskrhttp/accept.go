package ratatoskrhttp

import (
	"context"
	"net/http"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/ratatoskr-proto/ratatoskr/internal/clip"
)

// accept upgrades r and registers the connection, or answers with an HTTP
// error and reports false.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request) (*conn, bool) {
	h.mu.Lock()
	draining := h.draining
	h.mu.Unlock()
	if draining {
		w.Header().Set("Connection", "close")
		http.Error(w, "ratatoskr: server shutting down", http.StatusServiceUnavailable)
		return nil, false
	}
	cw := &corkWriter{ResponseWriter: w}
	ws, err := websocket.Accept(cw, r, &websocket.AcceptOptions{
		Subprotocols:   []string{Subprotocol},
		OriginPatterns: h.o.OriginPatterns,
	})
	if err != nil {
		// Accept has written the HTTP error.
		h.log.Debug("ratatoskr: upgrade refused", "remote", r.RemoteAddr, "err", err)
		return nil, false
	}
	// Frames up to four times the message limit are read and answered with
	// PAYLOAD_TOO_LARGE; larger ones close the connection (1009).
	ws.SetReadLimit(int64(h.validator.Options().MaxMessageSize) * 4)

	values := context.WithoutCancel(r.Context())
	ctx, cancel := context.WithCancel(values)
	c := &conn{
		h:      h,
		ws:     ws,
		cork:   cw.conn,
		remote: r.RemoteAddr,
		origin: clip.String(r.Header.Get("Origin"), logTextLen),
		ctx:    ctx,
		cancel: cancel,
		values: values,
		work:   make(chan *work),
		done:   make(chan struct{}),
	}
	c.wcond.L = &c.wmu
	c.closeDone = make(chan struct{})
	if h.o.RequestRate > 0 {
		c.limiter = rate.NewLimiter(h.o.RequestRate, h.o.RequestBurst)
	}

	h.mu.Lock()
	if h.draining {
		h.mu.Unlock()
		cancel()
		ws.Close(CloseGoingAway, "server shutting down")
		return nil, false
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	h.log.Debug("ratatoskr: connection open", "remote", r.RemoteAddr, "subprotocol", ws.Subprotocol())
	return c, true
}

// release unregisters c once it has ended.
func (h *Handler) release(c *conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	h.wg.Done()
}
