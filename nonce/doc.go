// Package nonce protects signed requests against replay: a Store records each request's replay
// key under its device's scope and refuses the same key again while the record lives.
//
// The replay key is not the nonce bytes alone: it is the digest of everything the signature
// covers (envelope.ReplayKey, SHA-256 over request_id, device_id, user_id, timestamp, nonce
// and payload). A nonce-only key let a captured frame pass again with bytes moved between the
// end of its nonce and the start of its payload, which leaves the signature valid; the digest
// is the same for every such re-split. The store calls its argument a nonce for history's sake.
//
//	store := nonce.NewMemory(nil) // or redisstore.New(client, nil) for many replicas
//	switch err := store.Record(ctx, scope, envelope.ReplayKey(req), window+skew+time.Second); {
//	case err == nil:
//		// first use: serve the request
//	case errors.Is(err, nonce.ErrReplay):
//		// REPLAY_DETECTED
//	default:
//		// nonce.ErrUnavailable (nonce.ErrScopeFull among them): UNAVAILABLE. Fail closed,
//		// never serve unchecked.
//	}
//
// # Fail closed
//
// Record has three outcomes: nil (the nonce is new and now recorded), ErrReplay (it is recorded
// and live), or ErrUnavailable (the store cannot tell: a shared store unreachable or slow, ctx
// ended, the memory store full or the device over its share of it, a non-positive ttl). Only nil
// accepts. A store never answers nil without having recorded the nonce, and never evicts a live
// nonce to make room. ErrScopeFull, the device over its share, wraps ErrUnavailable: a caller
// that only knows ErrUnavailable fails closed, and one that wants to can tell the two apart.
//
// Record only after the request's signature verifies; otherwise anyone could burn a device's
// records by sending them first.
//
// # Scope and TTL
//
// scope names the device the nonce belongs to; the server passes envelope.Scope(user_id,
// device_id), the length of user_id, a colon, user_id and device_id ("2:u1d1" for user "u1" and
// device "d1").
// Scopes and nonces are opaque bytes compared exactly: the stores length-prefix or hex-encode
// them, so ("ab", "c…") and ("a", "bc…") are different records, and any byte may appear.
//
// The caller chooses the TTL. A request is accepted while its timestamp (whole seconds) is at
// most window old and at most skew ahead; since both bounds are truncated to the second, a record
// must live window + skew + 1 s (331 s with the defaults, envelope.Validator.ReplayTTL) to outlast
// every moment its request could be accepted again. A shorter TTL re-opens replay; a longer one
// only costs memory.
//
// # Memory
//
// Memory keeps nonces in shards, each a map from a 128-bit keyed hash of (scope, nonce) to the
// expiry instant, under its own mutex. The hash is two maphash sums with seeds secret to the
// store: a collision between distinct pairs is a 2^-128 event nobody outside can aim at, and
// could only refuse a fresh nonce, never accept a replay. Each shard also queues its entries in
// insertion order, one FIFO per TTL (up to four); with one TTL and a monotonic clock the queues
// are sorted by expiry, so each Record pops the expired entries off their fronts in amortized
// O(1), with no background goroutine. A map that falls to a quarter of its peak is rebuilt and
// the queues shrink as they drain, so memory follows rate × TTL down as well as up; Len sweeps
// too, so a metrics scrape frees an idle store. A live nonce takes 75 to 100 bytes (16-byte key
// and 8-byte expiry in the map, the same and the 8-byte scope hash in the queue, plus growth
// slack), and up to about 40 more while most live nonces come from different devices, for the
// per-device counts below. Capacity is a hard limit, split over the shards; a full shard refuses
// with ErrUnavailable.
//
// # One device's share
//
// Every request records a nonce, so a device with a valid token could fill a Memory by itself
// and have it refuse everybody. Memory therefore also limits the live nonces of one scope
// (MemoryOptions.MaxPerScope) and refuses a scope over that share with ErrScopeFull, while other
// scopes keep being served; a replay is still reported as ErrReplay. A scope's nonces spread over
// all the shards, so each shard counts them, by a 64-bit keyed hash of the scope, and refuses a
// scope holding ⌈MaxPerScope/shards × 5/4⌉ + 8 of its nonces. While that is hundreds of nonces
// per shard, as with the defaults, the effective limit is within about 25% above MaxPerScope
// (refusals start near 77,000 and no scope holds more than 82,432) and a scope below
// MaxPerScope is practically never refused; with a few nonces per shard the + 8 weighs more.
// Expired nonces give their scope's share back as they are swept.
//
// The default share is Capacity/16, 65,536. At the server's default rate limit, 100 requests/s
// with a burst of 300, and the replay TTL of 331 s, a device within its rate holds at most
// 100 × 331 + 300 = 33,400 live nonces, about half its share; the share bites only above about
// 198 requests/s sustained. A flooding device is refused at its share, 5 to 6 MiB of memory,
// and at least 16 devices at their share (13 at the most the slack lets through) are needed to
// fill the default store.
//
// # Redis
//
// Replicas behind a load balancer must share their records, or a request replayed to another
// replica passes there. Package [github.com/ratatoskr-proto/ratatoskr/nonce/redisstore] is a
// Store in Redis for them: one atomic SET key 1 NX PX ttl per Record, shared by every replica.
// It is a package of its own so that this one does not import go-redis: the device side
// imports package nonce through package envelope, and links none of the server's dependencies.
//
// # Other stores
//
// Store is small on purpose. Package noncetest holds the conformance suite every implementation
// should pass.
package nonce
