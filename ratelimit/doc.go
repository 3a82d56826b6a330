// Package ratelimit holds the Limiter interface through which
// ratatoskrhttp limits request rates (per device, per user, per service),
// and Memory, the limiter for one replica, which is the default.
//
// A limit shared by several replicas plugs in through the same interface:
// package ratelimit/redisrate provides one backed by Redis.
//
// Limits are token buckets, written as GCRA (the generic cell rate
// algorithm): a key may take Burst requests at once and Rate per second
// sustained. A key's whole state is one instant, the time at which its
// bucket is full again, so a key that has been quiet for Burst/Rate
// seconds holds nothing.
package ratelimit
