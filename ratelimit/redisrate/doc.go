// Package redisrate is a ratelimit.Limiter in Redis, for several replicas
// that must share one limit: behind a load balancer, a device whose
// requests are spread over N replicas each holding a ratelimit.Memory of
// Rate r would get up to N×r (and N bursts); with one bucket per key in
// Redis it gets r, wherever its requests land. It lives apart from package
// ratelimit so that code which needs only the interface or the in-memory
// limiter never links go-redis.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	lim := redisrate.New(rdb, ratelimit.Limit{Rate: 20, Burst: 40}, nil) // a ratelimit.Limiter
//
// The buckets are those of github.com/go-redis/redis_rate: each Allow is
// one call of a Lua script (EVALSHA, falling back to EVAL the first time a
// server sees it) that reads a key's bucket, decides, and writes it back
// atomically, so replicas racing on one key never take the same token
// twice. The script reads the time from Redis (TIME), not from the
// replicas, so their clocks need not agree. Like ratelimit.Memory, it is
// GCRA: a key's state is one instant, stored as a string under
// "rate:" + Options.Prefix + key (redis_rate adds the "rate:"), which
// expires once the bucket is full again, so Redis memory follows the keys
// active in the last Burst/Rate seconds, some 100 bytes each. In Redis
// Cluster each key is one slot, and keys spread over the cluster.
//
// The limiter fails closed as package ratelimit describes: when Redis is
// unreachable, slow (500 ms by default, Options.Timeout) or answers with an
// error, Allow returns an error wrapping ratelimit.ErrUnavailable, and the
// caller refuses the request. Build the client with
// ContextTimeoutEnabled: true so that ctx deadlines bound the socket reads.
//
// A bucket lost in Redis (a failover before replication, a restart without
// persistence, an eviction) starts again full: the key gets one more burst,
// nothing worse. Rate keys can therefore share an instance with the replay
// records of package nonce/redisstore, whose Redis must not evict
// (maxmemory-policy noeviction); see that package.
//
// The tests run package ratelimittest's conformance suite against
// miniredis, and against a real Redis when REDIS_URL is set
// (REDIS_URL=redis://127.0.0.1:6379/0).
package redisrate
