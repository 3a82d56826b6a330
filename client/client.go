package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// Session describes the session the server granted. It is a value: Renew
// changes the client's session, not copies already returned.
type Session struct {
	// ID is the server's session id.
	ID string
	// ExpiresAt is when the server ends the session unless Renew extends
	// it; zero when the server did not say.
	ExpiresAt time.Time
	// ServerVersion is the version the server announced.
	ServerVersion string
}

// Client is one device connection to a Ratatoskr server. Its methods are
// safe for concurrent use.
//
// A Client owns up to three goroutines: a reader that matches responses to
// calls by request_id, a writer that sends frames one at a time, and, when
// Options.HeartbeatInterval is set, a heartbeat loop. With a TokenSource, a
// timer renews the session before it expires (Options.RenewBefore), on a
// goroutine that lives only while it renews. They stop when the connection
// ends; Close ends it and waits for them.
type Client struct {
	conn   *websocket.Conn
	opts   Options
	signer *envelope.Signer
	log    *slog.Logger

	ctx    context.Context // connection lifetime; cancelling it drops the connection
	cancel context.CancelFunc

	inflight    *gate  // in-flight slots of business requests (Options.MaxInFlight, Limits)
	pacer       *pacer // the announced request rate (Limits)
	writes      chan *writeJob
	unsolicited chan *pb.RatatoskrResponse
	closing     chan struct{} // closed when Close starts
	done        chan struct{} // closed when the connection is gone
	dropped     chan struct{} // closed when cancelling c.ctx has closed the connection
	wg          sync.WaitGroup

	mu        sync.Mutex
	pending   map[string]*pending
	session   Session
	limits    envelope.Limits // as the server announced them
	isClosing bool
	reason    error       // the server's DISCONNECT reason, if any
	abortErr  error       // why the client dropped the connection itself, if it did
	err       error       // why the connection is gone; set before done is closed
	expiry    *time.Timer // bounds the wait for the server to close after its DISCONNECT

	serverKey ed25519.PublicKey // the key the server signs this session's responses with, when ServerKeys is set

	renewTimer *time.Timer // the next automatic renewal (Options.RenewBefore); under mu
	renewGen   uint64      // counts the renewals scheduled; a renewal superseded by a later one stops. Under mu

	closeCtx  context.Context         // ended by the first CloseContext whose ctx ends: cuts the polite close short
	cutClose  context.CancelCauseFunc // ends closeCtx
	closeOnce sync.Once
	closeErr  error
}

// Dial connects to the Ratatoskr endpoint at url (ws:// or wss://; http and
// https are accepted too), offering the subprotocols "ratatoskr.v2" and
// "ratatoskr.v1", and performs the handshake: a signed CONNECTION_REQUEST carrying the device
// token, answered by a CONNECTION_RESPONSE. ctx bounds the whole handshake;
// give it a deadline. Once Dial returns, ctx no longer matters: the
// connection lives until Close or until it drops.
//
// When the server refuses the handshake, the error carries the server's
// code: errors.As to *envelope.Error gives, for instance, AUTH_FAILED or
// IDENTITY_MISMATCH. A server that cannot be reached, answers the upgrade
// with 5xx, or does not answer before ctx ends gives UNAVAILABLE (wrapping
// ctx's error in the last case); one answering 429 RATE_LIMITED; any other
// refused upgrade CONNECTION_REJECTED. See Retryable.
//
// With Options.TokenSource, the client renews the session by itself before
// it expires (Options.RenewBefore).
func Dial(ctx context.Context, url string, opts *Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	token, err := o.token(ctx)
	if err != nil {
		return nil, coded(err)
	}

	httpClient := o.HTTPClient
	if httpClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if o.TLSConfig != nil {
			tr.TLSClientConfig = o.TLSConfig.Clone()
		}
		// The upgraded connection leaves the pool; a refused upgrade may
		// leave an idle one behind, so release it.
		defer tr.CloseIdleConnections()
		httpClient = &http.Client{Transport: tr}
	}
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient:   httpClient,
		HTTPHeader:   o.HTTPHeader,
		Subprotocols: []string{SubprotocolV2, Subprotocol},
	})
	if err != nil {
		return nil, dialError(ctx, url, resp, err)
	}
	conn.SetReadLimit(int64(o.MaxMessageSize) + envelopeSlack)

	c := &Client{
		conn: conn,
		opts: o,
		signer: &envelope.Signer{
			DeviceID: o.DeviceID,
			UserID:   o.UserID,
			Key:      o.PrivateKey,
			Now:      o.Now,
			Rand:     o.Rand,
			Scheme:   scheme(conn.Subprotocol()),
		},
		log:         o.Logger,
		inflight:    newGate(inFlightBound(o.MaxInFlight, 0)),
		pacer:       newPacer(),
		writes:      make(chan *writeJob),
		unsolicited: make(chan *pb.RatatoskrResponse, unsolicitedBuffer),
		closing:     make(chan struct{}),
		done:        make(chan struct{}),
		dropped:     make(chan struct{}),
		pending:     make(map[string]*pending),
	}
	c.closeCtx, c.cutClose = context.WithCancelCause(context.Background())
	accepted, sess, err := c.handshake(ctx, token)
	if err != nil {
		conn.CloseNow()
		c.cutClose(nil)
		return nil, err
	}
	limits := envelope.LimitsOf(accepted)
	c.session = sess
	c.setLimits(limits)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	// Cancelling c.ctx drops the connection under the reader. One
	// registration here, instead of reading with c.ctx, which would make
	// coder/websocket arm a timer for every frame read.
	context.AfterFunc(c.ctx, func() {
		defer close(c.dropped)
		c.conn.CloseNow()
	})

	c.wg.Add(2)
	go c.readLoop()  // stopped by a read error; Close and abort cause one by cancelling c.ctx
	go c.writeLoop() // stopped by cancelling c.ctx, which the reader does on its way out
	if o.HeartbeatInterval > 0 {
		c.wg.Add(1)
		go c.heartbeatLoop(o.HeartbeatInterval) // stopped by Close or by c.ctx
	}
	c.mu.Lock()
	c.scheduleRenewal(c.lifetime(sess, accepted)) // stopped by Close or by the connection's end
	c.mu.Unlock()
	c.log.Debug("ratatoskr client connected", "session_id", sess.ID, "expires_at", sess.ExpiresAt, "subprotocol", conn.Subprotocol(),
		"max_in_flight", limits.MaxInFlight, "request_rate", limits.RequestRate, "request_burst", limits.RequestBurst)
	return c, nil
}

// handshake sends the CONNECTION_REQUEST and reads its answer directly,
// before the reader goroutine exists. It returns the accepting answer and
// the session it grants.
func (c *Client) handshake(ctx context.Context, token string) (*pb.RatatoskrResponse, Session, error) {
	req, err := c.signer.ConnectionRequest(token)
	if err != nil {
		return nil, Session{}, fmt.Errorf("client: %w", err)
	}
	frame, err := envelope.Marshal(req)
	if err != nil {
		return nil, Session{}, fmt.Errorf("client: encoding connection request: %w", err)
	}
	if err := c.conn.Write(ctx, websocket.MessageBinary, frame); err != nil {
		return nil, Session{}, unavailable(ctx, "sending connection request", err)
	}
	typ, data, err := c.conn.Read(ctx)
	if err != nil {
		return nil, Session{}, unavailable(ctx, "waiting for connection response", err)
	}
	if typ != websocket.MessageBinary {
		return nil, Session{}, errors.New("client: connection response is not a binary message")
	}
	resp := new(pb.RatatoskrResponse)
	if err := proto.Unmarshal(data, resp); err != nil {
		return nil, Session{}, fmt.Errorf("client: decoding connection response: %w", err)
	}
	if err := c.checkHandshake(req, resp); err != nil {
		return nil, Session{}, fmt.Errorf("client: handshake: %w", err)
	}
	if resp.GetRequestId() != req.GetRequestId() && resp.GetSuccess() {
		return nil, Session{}, fmt.Errorf("client: expected the answer to the connection request, got a %v response for %q",
			resp.GetMessageType(), resp.GetRequestId())
	}
	sess, err := sessionOf(resp)
	if err != nil {
		return nil, Session{}, fmt.Errorf("client: handshake: %w", err)
	}
	return resp, sess, nil
}

// sessionOf interprets a CONNECTION_RESPONSE: the session it grants, or the
// server's refusal as an *envelope.Error.
func sessionOf(resp *pb.RatatoskrResponse) (Session, error) {
	if err := envelope.ResponseError(resp); err != nil {
		return Session{}, err
	}
	if resp.GetMessageType() != pb.MessageType_CONNECTION_RESPONSE {
		return Session{}, fmt.Errorf("expected a CONNECTION_RESPONSE, got %v", resp.GetMessageType())
	}
	p, err := envelope.ConnectionResult(resp)
	if err != nil {
		return Session{}, err
	}
	if !p.GetAccepted() {
		return Session{}, envelope.NewError(envelope.CodeConnectionRejected, "server answered accepted=false")
	}
	s := Session{ID: p.GetSessionId(), ServerVersion: p.GetServerVersion()}
	if exp := p.GetExpiresAt(); exp != 0 {
		s.ExpiresAt = time.Unix(exp, 0)
	}
	return s, nil
}

// Session returns the current session; Renew updates it.
func (c *Client) Session() Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Subprotocol returns the subprotocol the server selected: "ratatoskr.v2"
// (it accepts signature v2), "ratatoskr.v1", or "" for a server that
// selected none.
func (c *Client) Subprotocol() string { return c.conn.Subprotocol() }

// Done returns a channel closed when the connection is gone, after Close or
// when it dropped.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the connection is up, and afterwards why it ended:
// an error wrapping ErrClosed and, when the server sent a DISCONNECT, its
// reason as an *envelope.Error (SERVER_SHUTDOWN, SESSION_EXPIRED), or else
// the transport error or the failed heartbeat (code UNAVAILABLE). After
// Close it is ErrClosed. Retryable tells whether a new connection may do
// better.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
