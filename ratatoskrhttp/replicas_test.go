package ratatoskrhttp_test

import (
	"context"
	"fmt"
	"github.com/ratatoskr-proto/ratatoskr/internal/redistest"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/envelope"
	"github.com/ratatoskr-proto/ratatoskr/nonce/redisstore"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// replicas starts two handlers, as two replicas behind a load balancer,
// sharing one Redis nonce store.
func replicas(t *testing.T, rdb redis.UniversalClient) (a, b *harness) {
	t.Helper()
	prefix := redistest.UniquePrefix(t)
	t.Cleanup(func() {
		if rdb.Ping(context.Background()).Err() == nil { // the outage tests may end with Redis gone
			redistest.DeletePrefix(t, rdb, prefix)
		}
	})
	mk := func() *harness {
		store := redisstore.New(rdb, &redisstore.Options{Prefix: prefix, Timeout: 200 * time.Millisecond})
		return newHarness(t, &ratatoskrhttp.Options{Validation: &envelope.ValidatorOptions{Nonces: store}}, nil)
	}
	return mk(), mk()
}

func testReplayAcrossReplicas(t *testing.T, rdb redis.UniversalClient) {
	a, b := replicas(t, rdb)
	d := newDevice(t, "alice", "phone-1").connect(a)
	e := &device{t: t, signer: d.signer, pub: d.pub, token: d.token}
	e.connect(b)

	req := d.business("echo", []byte("pay 10 EUR"))
	if resp := d.roundTrip(req); !resp.Success {
		t.Fatalf("replica A: %v", resp)
	}
	e.expectCode(req, envelope.CodeReplayDetected) // the same frame, replayed to replica B
	e.echo()
	d.echo()

	// The handshake frame itself cannot be replayed to another replica.
	f := newDevice(t, "bob", "tablet").dial(a)
	hello := f.connectionRequest(f.token)
	if resp := f.roundTrip(hello); !resp.Success {
		t.Fatal(resp)
	}
	g := &device{t: t, signer: f.signer, pub: f.pub, token: f.token}
	g.dial(b)
	g.expectCode(hello, envelope.CodeReplayDetected)
}

func TestReplicasShareRedisMiniredis(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	testReplayAcrossReplicas(t, rdb)
}

func TestReplicasShareRedisReal(t *testing.T) {
	testReplayAcrossReplicas(t, redistest.Real(t))
}

// Redis goes away: both replicas answer UNAVAILABLE and accept nothing
// unchecked; when it is back they serve again by themselves.
func TestReplicasRedisOutage(t *testing.T) {
	mr := miniredis.RunT(t)
	addr := mr.Addr()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	a, b := replicas(t, rdb)
	d := newDevice(t, "alice", "phone-1").connect(a)
	e := newDevice(t, "alice", "phone-2").connect(b)

	mr.Close()
	var held = d.business("echo", []byte("during outage"))
	for _, dev := range []*device{d, e} {
		dev.expectCode(dev.business("echo", nil), envelope.CodeUnavailable)
		hb, _ := dev.signer.Heartbeat()
		dev.expectCode(hb, envelope.CodeUnavailable)
	}
	d.expectCode(held, envelope.CodeUnavailable)
	// A new device cannot even open a session unchecked.
	f := newDevice(t, "carol", "phone-3").dial(b)
	f.expectCode(f.connectionRequest(f.token), envelope.CodeUnavailable)

	mr2 := miniredis.NewMiniRedis()
	if err := mr2.StartAddr(addr); err != nil {
		t.Fatalf("restarting redis on %s: %v", addr, err)
	}
	t.Cleanup(mr2.Close)
	waitFor(t, func() bool {
		return rdb.Ping(context.Background()).Err() == nil
	})
	d.echo()
	e.echo()
	// The request refused during the outage was never recorded: it is
	// accepted now, once.
	if resp := d.roundTrip(held); !resp.Success {
		t.Fatalf("held request after recovery: %v", resp)
	}
	d.expectCode(held, envelope.CodeReplayDetected)
}

// startRedisServer runs a real redis-server on a free loopback port, for
// the outage test; it skips when the binary is not installed.
func startRedisServer(t *testing.T, port int) func() {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer rdb.Close()
	waitFor(t, func() bool { return rdb.Ping(context.Background()).Err() == nil })
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	return stop
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The same outage with a real redis-server process killed mid-run and
// started again.
func TestReplicasRealRedisOutage(t *testing.T) {
	port := freePort(t)
	stop := startRedisServer(t, port)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	a, b := replicas(t, rdb)
	d := newDevice(t, "alice", "phone-1").connect(a)
	e := newDevice(t, "alice", "phone-2").connect(b)
	d.echo()

	stop()
	for _, dev := range []*device{d, e} {
		dev.expectCode(dev.business("echo", nil), envelope.CodeUnavailable)
	}
	startRedisServer(t, port)
	waitFor(t, func() bool { return rdb.Ping(context.Background()).Err() == nil })
	d.echo()
	e.echo()
}
