package ratatoskrhttp_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"github.com/ratatoskr-proto/ratatoskr/auth"
	"github.com/ratatoskr-proto/ratatoskr/client"
	"github.com/ratatoskr-proto/ratatoskr/ratatoskrhttp"
)

// The round-trip benchmarks compare a signed Ratatoskr call (client signs,
// server decodes, validates, records the nonce, routes to echo, answers)
// with a bare coder/websocket echo of the same payload, in the same run:
// the ratio is the protocol's cost over the transport.

var benchPayload = bytes.Repeat([]byte("x"), 1024)

func bareEchoServer(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, p, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, p); err != nil {
				return
			}
		}
	}))
	b.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func bareDial(b *testing.B, url string) *websocket.Conn {
	c, _, err := websocket.Dial(context.Background(), url, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	b.Cleanup(func() { c.CloseNow() })
	return c
}

func bareRoundTrip(b *testing.B, c *websocket.Conn) {
	ctx := context.Background()
	if err := c.Write(ctx, websocket.MessageBinary, benchPayload); err != nil {
		b.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		b.Fatal(err)
	}
}

func ratatoskrDial(b *testing.B, hs *harness, user string) *client.Client {
	pub, key, _ := ed25519.GenerateKey(nil)
	tok, err := auth.MintHS256(testSecret, auth.MintOptions{UserID: user, DeviceID: "bench", DevicePublicKey: pub})
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.Dial(context.Background(), hs.url, &client.Options{UserID: user, DeviceID: "bench", PrivateKey: key, Token: tok})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func call(b *testing.B, c *client.Client) {
	resp, err := c.Call(context.Background(), "echo", benchPayload)
	if err != nil || len(resp.Payload) != len(benchPayload) {
		b.Fatal(err)
	}
}

// BenchmarkRoundTrip/bare-1conn and /ratatoskr-1conn: sequential round
// trips on one connection.
// BenchmarkRoundTrip/bare-16conns and /ratatoskr-16conns: 16 connections,
// one call in flight on each.
// BenchmarkRoundTrip/ratatoskr-16conns-64inflight: 16 connections with 4
// calls in flight on each.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("bare-1conn", func(b *testing.B) {
		c := bareDial(b, bareEchoServer(b))
		b.SetBytes(int64(len(benchPayload)))
		for b.Loop() {
			bareRoundTrip(b, c)
		}
	})
	b.Run("ratatoskr-1conn", func(b *testing.B) {
		c := ratatoskrDial(b, newHarness(b, benchOptions(), nil), "u")
		b.SetBytes(int64(len(benchPayload)))
		b.ReportAllocs()
		for b.Loop() {
			call(b, c)
		}
	})
	b.Run("bare-16conns", func(b *testing.B) {
		url := bareEchoServer(b)
		conns := make([]*websocket.Conn, 16)
		for i := range conns {
			conns[i] = bareDial(b, url)
		}
		parallel(b, 16, func(i int) func() {
			c := conns[i]
			return func() { bareRoundTrip(b, c) }
		})
	})
	for _, perConn := range []int{1, 4} {
		name := "ratatoskr-16conns"
		if perConn > 1 {
			name = "ratatoskr-16conns-64inflight"
		}
		b.Run(name, func(b *testing.B) {
			hs := newHarness(b, benchOptions(), nil)
			conns := make([]*client.Client, 16)
			for i := range conns {
				conns[i] = ratatoskrDial(b, hs, "u"+string(rune('a'+i)))
			}
			b.ReportAllocs()
			parallel(b, 16*perConn, func(i int) func() {
				c := conns[i%16]
				return func() { call(b, c) }
			})
		})
	}
}

// benchOptions keeps the per-device rate limit checked on every request
// but far above what one benchmark device sends.
func benchOptions() *ratatoskrhttp.Options {
	return &ratatoskrhttp.Options{RequestRate: 1e7}
}

// parallel runs op from n goroutines (n a multiple of GOMAXPROCS), the
// i-th goroutine using mk(i).
func parallel(b *testing.B, n int, mk func(i int) func()) {
	b.SetBytes(int64(len(benchPayload)))
	var next atomic.Int32
	b.SetParallelism(max(1, n/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		op := mk(int(next.Add(1)-1) % n)
		for pb.Next() {
			op()
		}
	})
}
