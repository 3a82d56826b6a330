// Command benche2e measures what Ratatoskr costs a server, end to end, next
// to a floor measured in the same run: a bare coder/websocket echo server.
//
//	make bench-e2e                      # load: server CPU per request, throughput
//	make bench-e2e ARGS=-idle           # idle: server memory per idle connection
//	go run ./internal/cmd/benche2e -h   # every flag
//
// Both servers run as child processes on 127.0.0.1: the echo server is this
// binary started again with the hidden first argument -serve-echo ADDR, and
// Ratatoskr is example/server (built once into a temporary directory, or
// given with -server-bin), with its logging unchanged: one line per
// request, written to a temporary file, is part of what it costs. The
// example server is given a fresh random HS256 secret through
// RATATOSKR_JWT_SECRET; the bench mints each device's token with it.
//
// # Load mode (the default)
//
// The same load drives both servers: -conns connections with -inflight
// requests outstanding on each, -payload bytes each, for -duration per
// round. Against echo, a request is one binary message echoed back; against
// Ratatoskr it is client.Call("echo", payload) by the real device client:
// signed, validated, replay-checked, routed, answered and logged. Rounds
// alternate which server goes first, and each round ends with a loop of
// bare ed25519.Verify calls on one goroutine of this process.
//
// Per round and server the table shows the requests completed, those the
// server refused (not counted; the in-memory nonce store refuses with
// UNAVAILABLE once it holds about a million nonces of the last 331 s, so
// keep -duration x -rounds x throughput below that), the client-observed
// throughput, and the server's CPU time (user + system, from
// /proc/PID/stat, in 10 ms clock ticks) over the round divided by the
// requests completed: microseconds of server CPU per request. "Verify" is
// the thread CPU time of one bare ed25519.Verify of a 32-byte message. The
// summary gives the medians over rounds and two ratios, each the median of
// the per-round ratios (each round's three numbers were measured minutes
// apart at most):
//
//	overhead = (ratatoskr CPU/request - Verify) / echo CPU/message   target <= 1.5
//	moonshot = ratatoskr CPU/request / (Verify + echo CPU/message)   moonshot < 1
//
// The overhead ratio says how much heavier than a bare WebSocket echo a
// Ratatoskr request is once the one Ed25519 verification it cannot avoid
// is set aside; the moonshot ratio is below 1 only if Ratatoskr costs less
// than an echo plus a verification done separately. Throughput is what the
// client saw; on a small machine the client shares the CPUs with the
// server (signing costs the device side about as much as verifying costs
// the server), so read throughput as a sanity check, and CPU per request as
// the measure.
//
// # Idle mode (-idle)
//
// Each round starts a fresh echo server and a fresh Ratatoskr server (in
// alternating order), warms each with a few connections, waits for it to
// settle, reads VmRSS from /proc/PID/status, opens -idle-conns connections
// (for Ratatoskr, dialled and authenticated by client.Dial, without
// automatic heartbeats, then left alone), waits again and reads VmRSS. The
// difference divided by the connections is KiB per idle connection; the
// summary gives the medians and the median per-round ratio
// ratatoskr/echo (target <= 1.15). The servers cannot be asked to collect
// garbage, so the Ratatoskr figure also holds whatever the handshakes left
// on the heap that no collection has freed yet. With the default -settle
// (2 s) the reading comes before the Ratatoskr server's first WebSocket
// ping (every 30 s); a longer -settle (40s, 130s: past the runtime's
// forced collection every 2 minutes) shows what an idle session costs
// once pings, their garbage and a collection have happened.
//
// Numbers from a shared machine move between runs; the ratios, measured
// in the same run with interleaved rounds, move much less. Compare ratios
// across commits, not absolute microseconds.
//
// The tool needs Linux (/proc) and Go; traffic stays on 127.0.0.1.
package main
