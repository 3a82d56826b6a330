// Package redisstore is a nonce.Store in Redis, for several replicas that must share replay
// protection: a request replayed to another replica behind the load balancer is caught there.
// It lives apart from package nonce so that code which only needs the interface or the
// in-memory store (the device side, through package envelope) never links go-redis.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	store := redisstore.New(rdb, &redisstore.Options{Logger: logger}) // a nonce.Store
//	if err := store.CheckEviction(ctx); err != nil { // warns if Redis may evict records
//		return err // Redis unreachable (or, with EvictionRefuse, an evicting policy)
//	}
//	h := ratatoskrhttp.New(&ratatoskrhttp.Options{
//		Authenticator: a,
//		Validation:    &envelope.ValidatorOptions{Nonces: store},
//	})
//
// Each Record is one atomic SET key 1 NX PX ttl, shared by every replica. Keys are Prefix + "{" +
// hex(scope) + "}:" + hex(nonce), for example "ratatoskr:nonce:{323a75316431}:0f1e2d3c4b5a6978"
// (scope "2:u1d1"): the hex cannot contain the delimiters, and the braces make hex(scope) the
// Redis Cluster hash tag, so a device's nonces share a slot. Keys expire by themselves, so
// Redis memory is bounded by request rate × TTL.
//
// The store fails closed as package nonce describes: when Redis is unreachable, slow (500 ms by
// default, Options.Timeout) or answers oddly, Record returns an error wrapping
// nonce.ErrUnavailable, never nil, and recovers by itself when Redis is back. Build the client
// with ContextTimeoutEnabled: true so that ctx deadlines bound the socket reads.
//
// Under load, concurrent Records share round trips as pipelines (Options.MaxInFlight), with no
// goroutine of the store's own: there is nothing to close but the client, which is the caller's.
//
// # Configuring Redis
//
// A replay record must live for its whole TTL: one that Redis drops early re-opens the replay
// it was recording. Hence:
//
//   - maxmemory-policy noeviction. It is the only safe policy: allkeys-* evict any key, and
//     volatile-* (volatile-ttl too) evict keys that have a TTL, which every replay record has.
//     Under noeviction a full Redis refuses the SET, so Record fails closed
//     (nonce.ErrUnavailable, the request is refused with UNAVAILABLE) instead of forgetting.
//     The policy is per instance, not per database: do not share the instance with a cache
//     that needs eviction. Store.CheckEviction checks the policy at startup (Options.EvictionCheck).
//   - maxmemory, sized from request rate × TTL. Every request leaves one record for the replay
//     TTL, 331 s by default: a device at 100 requests/s holds 100 × 331 = 33,100 records, and a
//     fleet's total request rate R holds R × 331. A record takes about 120 bytes plus its key
//     (len(Prefix) + 2·len(scope) + 67 bytes); measured on Redis 7.0 with a 159-byte key,
//     276 bytes. So 33,100 records take about 9 MB, and R = 10,000/s about 0.9 GB. Set
//     maxmemory to about twice that (fragmentation, replication and AOF-rewrite buffers), below
//     the machine's memory, so that Redis refuses writes rather than being killed.
//   - Persistence. A Redis restarted without its data forgets every record, and requests from
//     the last TTL can be replayed. appendonly yes with appendfsync everysec loses at most about
//     a second of records in a crash; RDB snapshots alone lose everything since the last one.
//   - Replication. Redis replicates asynchronously: a failover can lose the last records the
//     old primary acknowledged (usually well under a second), whose requests can then be
//     replayed to the new primary. min-replicas-to-write 1 with min-replicas-max-lag narrows
//     this. Set noeviction and maxmemory on the replicas too, since a promoted replica keeps its
//     own configuration.
//   - Permissions. Record needs SET; CheckEviction needs CONFIG GET (ACL +config|get), and
//     without it only warns.
//
// The tests run package noncetest's conformance suite against miniredis, and against a real
// Redis when REDIS_URL is set (REDIS_URL=redis://127.0.0.1:6379/0).
package redisstore
