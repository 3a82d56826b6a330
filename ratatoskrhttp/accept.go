package ratatoskrhttp

import (
	"context"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/internal/clip"
)

// accept upgrades r and registers the connection, or answers with an HTTP
// error and reports false.
func (h *Handler) accept(w http.ResponseWriter, r *http.Request) (*conn, bool) {
	addr := h.o.ClientAddr(r)
	h.mu.Lock()
	status, limit := http.StatusServiceUnavailable, LimitKind("")
	if !h.draining {
		status, limit = h.admit(addr)
	}
	h.mu.Unlock()
	if limit != "" {
		h.limitedAddr(limit, addr) // outside h.mu: observers may log
	}
	switch status {
	case 0:
	case http.StatusServiceUnavailable:
		w.Header().Set("Connection", "close")
		http.Error(w, "ratatoskr: server shutting down or full", status)
		return nil, false
	default:
		h.log.Warn("ratatoskr: upgrade refused, too many handshakes from this address", "remote", r.RemoteAddr, "addr", addr)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "ratatoskr: too many connections from this address", status)
		return nil, false
	}
	cw := &corkWriter{ResponseWriter: w}
	ws, err := websocket.Accept(cw, r, &websocket.AcceptOptions{
		Subprotocols:   []string{SubprotocolV2, Subprotocol},
		OriginPatterns: h.o.OriginPatterns,
	})
	if err != nil {
		// Accept has written the HTTP error.
		h.log.Debug("ratatoskr: upgrade refused", "remote", r.RemoteAddr, "err", err)
		h.mu.Lock()
		h.unpendAddr(addr)
		h.limits.upgrading--
		h.mu.Unlock()
		return nil, false
	}
	// Until the session is open, a frame is a CONNECTION_REQUEST of a few
	// KiB; opened raises the limit.
	ws.SetReadLimit(int64(h.o.MaxHandshakeSize))

	values := context.WithoutCancel(r.Context())
	ctx, cancel := context.WithCancel(values)
	c := &conn{
		h:      h,
		ws:     ws,
		cork:   cw.conn,
		remote: r.RemoteAddr,
		origin: clip.String(r.Header.Get("Origin"), logTextLen),
		addr:   addr,
		born:   time.Now(),
		unauth: true,
		ctx:    ctx,
		cancel: cancel,
		values: values,
		work:   make(chan *work),
		done:   make(chan struct{}),
	}
	c.wcond.L = &c.wmu
	c.closeDone = make(chan struct{})

	h.mu.Lock()
	h.limits.upgrading--
	if h.draining {
		h.unpend(c)
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
	h.unpend(c)
	h.unregister(c)
	h.mu.Unlock()
	h.wg.Done()
}
