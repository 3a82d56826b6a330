// Package redisstore is a nonce.Store in Redis, for several replicas that must share replay
// protection: a request replayed to another replica behind the load balancer is caught there.
// It lives apart from package nonce so that code which only needs the interface or the
// in-memory store (the device side, through package envelope) never links go-redis.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	store := redisstore.New(rdb, nil) // a nonce.Store
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
// The tests run package noncetest's conformance suite against miniredis, and against a real
// Redis when REDIS_URL is set (REDIS_URL=redis://127.0.0.1:6379/0).
package redisstore
