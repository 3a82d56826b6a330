package loadgen

import (
	"context"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	pb "github.com/ratatoskr-proto/ratatoskr/proto"
)

// presigner signs the requests of one connection ahead of time, on a
// goroutine of its own, into a buffered channel that the connection's
// senders drain: signing runs in parallel with sending instead of in front
// of it, and a full buffer stops the signer, so requests wait there at
// most buffer/rate seconds (the server's timestamp window is minutes).
type presigner struct {
	out  chan *pb.RatatoskrRequest // closed when the signer stops
	done chan struct{}             // closed when the signer has returned

	// Written by the signer goroutine, read after done is closed.
	signed int64
	busy   time.Duration // time spent inside Signer.Business
	err    error         // why signing failed, if it did
}

// startPresigner starts the signing goroutine; it stops when ctx ends or
// signing fails, and closes out either way. The caller waits on done.
func startPresigner(ctx context.Context, s *envelope.Signer, service string, payload []byte, buffer int) *presigner {
	p := &presigner{out: make(chan *pb.RatatoskrRequest, buffer), done: make(chan struct{})}
	go p.run(ctx, s, service, payload) // owned by Run: stopped by cancelling ctx, waited on via done
	return p
}

func (p *presigner) run(ctx context.Context, s *envelope.Signer, service string, payload []byte) {
	defer close(p.done)
	defer close(p.out)
	for {
		start := time.Now()
		req, err := s.Business(service, payload, nil)
		p.busy += time.Since(start)
		if err != nil {
			p.err = err
			return
		}
		p.signed++
		select {
		case p.out <- req:
		case <-ctx.Done():
			return
		}
	}
}

// full reports whether the buffer is full, for the warm-up before the
// measured window.
func (p *presigner) full() bool { return len(p.out) == cap(p.out) }
