package ratatoskrhttp

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/internal/clip"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// outFrame is one item to write: an encoded response, or the close.
type outFrame struct {
	data *[]byte // from bufPool; returned once written
	// w is set on the answer to a business request: the request stays in
	// flight (counting against MaxInFlight) until its answer is taken for
	// writing, so a peer that does not read cannot pile up work, while a
	// client that sends its next request on receipt always finds room.
	w      *work
	close  bool
	status websocket.StatusCode
	reason string
}

// writer holds a connection's frames waiting to be written. There is no
// writer goroutine: the first goroutine with a frame to send while nobody
// is writing becomes the writer and writes everything pending, its own
// frame and those others queue meanwhile, as one batch with one flush;
// the others return at once.
type writer struct {
	wmu           sync.Mutex
	wcond         sync.Cond // signalled when the pending frames are taken
	pending       []outFrame
	spare         []outFrame
	writing       bool
	wclosed       bool          // the close is due (or writing failed): nothing more goes out
	closeQueued   bool          // a close frame was queued
	closeDone     chan struct{} // closed once the closing handshake is over, or writing failed
	closeDoneOnce sync.Once
}

// maxPending bounds the frames the read loop may queue before it waits for
// the writer: a peer that sends without reading stops being read.
const maxPending = 64

// send queues the encoded frame data (w: the business request it answers,
// or nil) and writes everything pending unless a writer is at work.
func (c *conn) send(data *[]byte, w *work) {
	c.push(outFrame{data: data, w: w})
}

// queueClose queues the close frame after everything pending.
func (c *conn) queueClose(status websocket.StatusCode, reason string) {
	c.push(outFrame{close: true, status: status, reason: reason})
}

func (c *conn) push(f outFrame) {
	c.wmu.Lock()
	if c.wclosed {
		c.wmu.Unlock()
		c.dropped(f)
		return
	}
	c.pending = append(c.pending, f)
	if f.close {
		c.closeQueued = true
	}
	if c.writing {
		c.wmu.Unlock()
		return
	}
	c.writing = true
	for len(c.pending) > 0 && !c.wclosed {
		batch := c.pending
		c.pending = c.spare[:0]
		c.wcond.Broadcast()
		c.wmu.Unlock()
		c.writeBatch(batch)
		clear(batch)
		c.wmu.Lock()
		c.spare = batch[:0]
	}
	for _, f := range c.pending { // after the close or a failure
		c.dropped(f)
	}
	c.pending = c.pending[:0]
	c.writing = false
	c.wcond.Broadcast()
	c.wmu.Unlock()
}

// waitWriter blocks the read loop while maxPending frames wait for a slow
// peer; the writer drops that peer after WriteTimeout, so the wait ends.
func (c *conn) waitWriter() {
	c.wmu.Lock()
	for len(c.pending) >= maxPending && !c.wclosed {
		c.wcond.Wait()
	}
	c.wmu.Unlock()
}

// writeBatch writes frames, corked into one system call when there are
// several, each batch within WriteTimeout. A peer that does not take them
// in time is dropped.
func (c *conn) writeBatch(batch []outFrame) {
	for _, f := range batch {
		if f.w != nil {
			c.taken(f.w)
		}
	}
	data := 0
	for _, f := range batch {
		if !f.close {
			data++
		}
	}
	c.cork.SetWriteDeadline(time.Now().Add(c.h.o.WriteTimeout))
	if data > 1 {
		c.cork.hold()
	}
	var err error
	for i, f := range batch {
		if f.close {
			err = c.cork.release()
			c.closeWS(f.status, f.reason)
			for _, g := range batch[i+1:] {
				c.dropped(g)
			}
			break
		}
		if err == nil {
			err = c.ws.Write(context.Background(), websocket.MessageBinary, *f.data)
		}
		putBuf(f.data)
	}
	if rerr := c.cork.release(); err == nil {
		err = rerr
	}
	c.cork.SetWriteDeadline(time.Time{})
	if err != nil {
		c.h.log.Info("ratatoskr: write failed, dropping connection", "remote", c.remote, "err", err)
		c.wmu.Lock()
		c.stopWriting()
		c.wmu.Unlock()
		c.closeDoneOnce.Do(func() { close(c.closeDone) })
		c.cut(ClosedUnresponsive)
	}
}

// closeWS starts the closing handshake on its own goroutine (it waits up
// to five seconds for the peer's close); nothing is written after it.
func (c *conn) closeWS(status websocket.StatusCode, reason string) {
	c.wmu.Lock()
	c.stopWriting()
	c.wmu.Unlock()
	c.mu.Lock()
	if c.gone {
		c.mu.Unlock()
		c.ws.CloseNow()
		c.closeDoneOnce.Do(func() { close(c.closeDone) })
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() { // owned by the connection: teardown waits for it
		defer c.wg.Done()
		defer c.closeDoneOnce.Do(func() { close(c.closeDone) })
		c.ws.Close(status, reason)
	}()
}

// stopWriting marks the writer closed; the caller holds wmu.
func (c *conn) stopWriting() { c.wclosed = true }

// dropped disposes of a frame that will not be written.
func (c *conn) dropped(f outFrame) {
	if f.w != nil {
		c.taken(f.w)
	}
	if f.data != nil {
		putBuf(f.data)
	}
}

// bufPool holds encoding buffers: a response is encoded into one, written,
// and the buffer is reused, so steady traffic allocates none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxPooledBuf = 64 << 10

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// encode signs resp (when the server signs responses) as the answer to req
// (nil: to no decodable request) and marshals it into a pooled buffer. A response that cannot be
// encoded (a service put invalid UTF-8 in a string) is replaced by an
// INTERNAL failure for the same request, so the device still gets an
// answer.
func (c *conn) encode(resp *pb.RatatoskrResponse, req *pb.RatatoskrRequest) *[]byte {
	c.sign(resp, req)
	b := bufPool.Get().(*[]byte)
	out, err := marshalOpts.MarshalAppend((*b)[:0], resp)
	if err != nil {
		c.h.log.Error("ratatoskr: response cannot be encoded", "request_id", clip.String(resp.GetRequestId(), logTextLen), "err", err)
		fallback := envelope.Failure(resp.GetMessageType(), resp.GetRequestId(),
			envelope.NewError(envelope.CodeInternal, "internal error"), c.h.now())
		c.sign(fallback, req)
		out, _ = marshalOpts.MarshalAppend((*b)[:0], fallback)
	}
	*b = out
	return b
}

// corkConn is the hijacked connection under the WebSocket. While held, its
// writes collect in memory, and release sends them with one system call:
// the answers pending together go out in one write.
type corkConn struct {
	net.Conn
	mu   sync.Mutex
	held bool
	buf  []byte
}

func (cc *corkConn) Write(p []byte) (int, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.held {
		cc.buf = append(cc.buf, p...)
		return len(p), nil
	}
	return cc.Conn.Write(p)
}

func (cc *corkConn) hold() {
	cc.mu.Lock()
	cc.held = true
	cc.mu.Unlock()
}

// release writes what was held and stops holding.
func (cc *corkConn) release() error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if !cc.held {
		return nil
	}
	cc.held = false
	var err error
	if len(cc.buf) > 0 {
		_, err = cc.Conn.Write(cc.buf)
	}
	if cap(cc.buf) > maxPooledBuf {
		cc.buf = nil // an idle connection keeps no large buffer
	} else {
		cc.buf = cc.buf[:0]
	}
	return err
}

// corkWriter hands websocket.Accept a corkConn when it hijacks the
// connection.
type corkWriter struct {
	http.ResponseWriter
	conn *corkConn
}

// Hijack hijacks the underlying connection and wraps it.
func (w *corkWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		nc.Close()
		return nil, nil, err
	}
	w.conn = &corkConn{Conn: nc}
	brw.Writer.Reset(w.conn)
	return w.conn, brw, nil
}

// responseType is the message_type answering a request of type t: the
// same type, CONNECTION_RESPONSE for a CONNECTION_REQUEST, and ERROR for a
// type that is not a request type.
func responseType(t pb.MessageType) pb.MessageType {
	switch t {
	case pb.MessageType_CONNECTION_REQUEST:
		return pb.MessageType_CONNECTION_RESPONSE
	case pb.MessageType_BUSINESS_REQUEST, pb.MessageType_HEARTBEAT, pb.MessageType_DISCONNECT:
		return t
	}
	return pb.MessageType_ERROR
}

// fail answers a request of type t with id requestID with err and counts
// it towards MaxProtocolErrors (see countAbuse). req is the request, nil
// for a frame that did not decode. It is for the read loop.
func (c *conn) fail(req *pb.RatatoskrRequest, t pb.MessageType, requestID string, err error) {
	c.send(c.encode(envelope.Failure(responseType(t), requestID, err, c.h.now()), req), nil)
	c.countAbuse(err)
}

// logTextLen bounds every string a log record repeats from the peer
// (identifiers, service, Origin, error causes): longer ones are cut and
// marked, so a peer cannot write megabytes into the log.
const logTextLen = 256
