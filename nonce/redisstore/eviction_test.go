package redisstore_test

import (
	"context"
	"errors"
	"github.com/ratatoskr-proto/ratatoskr/internal/redistest"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
	"github.com/ratatoskr-proto/ratatoskr/nonce/redisstore"
)

// logRecorder is a slog.Handler that keeps what it is given.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

// warnings returns each Warn record's message and attributes, as "msg k=v k=v".
func (r *logRecorder) warnings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.records {
		if rec.Level != slog.LevelWarn {
			continue
		}
		s := rec.Message
		rec.Attrs(func(a slog.Attr) bool {
			s += " " + a.String()
			return true
		})
		out = append(out, s)
	}
	return out
}

// configHook answers CONFIG GET in place of the server: with reply, or with err when set.
// It counts the CONFIG commands it sees.
type configHook struct {
	reply map[string]string
	err   error
	calls int
	mu    sync.Mutex
}

func (h *configHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *configHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c, ok := cmd.(*redis.MapStringStringCmd)
		if !ok || cmd.Name() != "config" {
			return next(ctx, cmd)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.calls++
		if h.err != nil {
			c.SetErr(h.err)
			return h.err
		}
		c.SetVal(h.reply)
		return nil
	}
}

func (h *configHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// serverError is an error reply, as a server that refuses CONFIG sends.
type serverError string

func (e serverError) Error() string { return string(e) }
func (serverError) RedisError()     {}

// newCheckStore returns a store on a miniredis whose CONFIG GET h answers, and its log.
func newCheckStore(t *testing.T, h *configHook, mode redisstore.EvictionCheck) (*redisstore.Store, *logRecorder) {
	t.Helper()
	_, c := redistest.Miniredis(t)
	if h != nil {
		c.AddHook(h)
	}
	log := &logRecorder{}
	return redisstore.New(c, &redisstore.Options{EvictionCheck: mode, Logger: slog.New(log)}), log
}

var evictingPolicies = []string{
	"allkeys-lru", "allkeys-lfu", "allkeys-random",
	"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", // replay records all have a TTL
	"some-future-policy", // anything but noeviction
}

func TestCheckEviction(t *testing.T) {
	ctx := context.Background()
	t.Run("Noeviction", func(t *testing.T) {
		for _, mode := range []redisstore.EvictionCheck{redisstore.EvictionWarn, redisstore.EvictionRefuse} {
			h := &configHook{reply: map[string]string{"maxmemory-policy": "noeviction"}}
			s, log := newCheckStore(t, h, mode)
			if err := s.CheckEviction(ctx); err != nil {
				t.Errorf("mode %d: CheckEviction = %v, want nil", mode, err)
			}
			if w := log.warnings(); len(w) != 0 {
				t.Errorf("mode %d: warnings %q, want none", mode, w)
			}
			if h.calls != 1 {
				t.Errorf("mode %d: %d CONFIG calls, want 1", mode, h.calls)
			}
		}
	})

	for _, policy := range evictingPolicies {
		t.Run(policy, func(t *testing.T) {
			h := &configHook{reply: map[string]string{"maxmemory-policy": policy}}

			// Warn, the default: a warning naming the policy, and nil.
			s, log := newCheckStore(t, h, redisstore.EvictionWarn)
			if err := s.CheckEviction(ctx); err != nil {
				t.Errorf("EvictionWarn: CheckEviction = %v, want nil", err)
			}
			if w := log.warnings(); len(w) != 1 || !strings.Contains(w[0], "maxmemory-policy="+policy) {
				t.Errorf("EvictionWarn: warnings %q, want one naming the policy", w)
			}

			// Refuse: an error naming the policy, and no log.
			s, log = newCheckStore(t, h, redisstore.EvictionRefuse)
			err := s.CheckEviction(ctx)
			if !errors.Is(err, redisstore.ErrEvictingPolicy) || !strings.Contains(err.Error(), policy) {
				t.Errorf("EvictionRefuse: CheckEviction = %v, want ErrEvictingPolicy naming %s", err, policy)
			}
			if w := log.warnings(); len(w) != 0 {
				t.Errorf("EvictionRefuse: warnings %q, want none", w)
			}
		})
	}

	t.Run("Off", func(t *testing.T) {
		h := &configHook{reply: map[string]string{"maxmemory-policy": "allkeys-lru"}}
		s, log := newCheckStore(t, h, redisstore.EvictionOff)
		if err := s.CheckEviction(ctx); err != nil {
			t.Errorf("CheckEviction = %v, want nil", err)
		}
		if h.calls != 0 || len(log.warnings()) != 0 {
			t.Errorf("EvictionOff: %d CONFIG calls, warnings %q; want neither", h.calls, log.warnings())
		}
	})

	t.Run("NilLogger", func(t *testing.T) {
		_, c := redistest.Miniredis(t)
		c.AddHook(&configHook{reply: map[string]string{"maxmemory-policy": "allkeys-lru"}})
		if err := redisstore.New(c, nil).CheckEviction(ctx); err != nil {
			t.Errorf("CheckEviction = %v, want nil (a warning to nobody)", err)
		}
	})
}

func TestCheckEvictionCannotTell(t *testing.T) {
	// A server that refuses CONFIG (managed Redis, ACLs, rename-command) or does not report the
	// policy: a warning, and nil, even in EvictionRefuse.
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		hook *configHook
	}{
		{"Miniredis", nil}, // miniredis has no CONFIG command: "ERR unknown command `config`"
		{"NoPerm", &configHook{err: serverError("NOPERM User app has no permissions to run the 'config|get' command")}},
		{"Renamed", &configHook{err: serverError("ERR unknown command 'CONFIG', with args beginning with: 'GET' 'maxmemory-policy'")}},
		{"EmptyReply", &configHook{reply: map[string]string{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []redisstore.EvictionCheck{redisstore.EvictionWarn, redisstore.EvictionRefuse} {
				s, log := newCheckStore(t, tc.hook, mode)
				if err := s.CheckEviction(ctx); err != nil {
					t.Errorf("mode %d: CheckEviction = %v, want nil", mode, err)
				}
				w := log.warnings()
				if len(w) != 1 || !strings.Contains(w[0], "noeviction") {
					t.Errorf("mode %d: warnings %q, want one asking for noeviction", mode, w)
				}
				t.Logf("mode %d: %s", mode, w)
			}
		})
	}
}

func TestCheckEvictionUnreachable(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []redisstore.EvictionCheck{redisstore.EvictionWarn, redisstore.EvictionRefuse} {
		mr, c := redistest.Miniredis(t)
		mr.Close()
		err := redisstore.New(c, &redisstore.Options{EvictionCheck: mode, Timeout: 100 * time.Millisecond}).CheckEviction(ctx)
		if !errors.Is(err, nonce.ErrUnavailable) || errors.Is(err, redisstore.ErrEvictingPolicy) {
			t.Errorf("mode %d: CheckEviction with Redis down = %v, want ErrUnavailable", mode, err)
		}
	}
	// Off asks nothing, so it cannot fail.
	mr, c := redistest.Miniredis(t)
	mr.Close()
	if err := redisstore.New(c, &redisstore.Options{EvictionCheck: redisstore.EvictionOff}).CheckEviction(ctx); err != nil {
		t.Errorf("EvictionOff: CheckEviction with Redis down = %v, want nil", err)
	}
	// A ctx that has ended.
	_, c = redistest.Miniredis(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := redisstore.New(c, nil).CheckEviction(cctx); !errors.Is(err, nonce.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("CheckEviction with a cancelled ctx = %v, want ErrUnavailable wrapping Canceled", err)
	}
}

func TestCheckEvictionCluster(t *testing.T) {
	// A Cluster client asks every node. miniredis answers CLUSTER SLOTS as one node that holds
	// every slot; the hook on that node answers CONFIG GET.
	mr := miniredis.RunT(t)
	for _, tc := range []struct {
		policy string
		want   error
	}{
		{"noeviction", nil},
		{"volatile-ttl", redisstore.ErrEvictingPolicy},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			h := &configHook{reply: map[string]string{"maxmemory-policy": tc.policy}}
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{mr.Addr()}})
			t.Cleanup(func() { c.Close() })
			c.OnNewNode(func(n *redis.Client) { n.AddHook(h) })
			s := redisstore.New(c, &redisstore.Options{EvictionCheck: redisstore.EvictionRefuse})
			err := s.CheckEviction(context.Background())
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("CheckEviction = %v, want %v", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), mr.Addr()) {
				t.Errorf("CheckEviction = %v, want it to name the node %s", err, mr.Addr())
			}
			if h.calls < 1 {
				t.Errorf("no node was asked")
			}
		})
	}
	t.Run("Unreachable", func(t *testing.T) {
		mr := miniredis.RunT(t)
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{mr.Addr()}})
		t.Cleanup(func() { c.Close() })
		mr.Close()
		err := redisstore.New(c, &redisstore.Options{Timeout: 100 * time.Millisecond}).CheckEviction(context.Background())
		if !errors.Is(err, nonce.ErrUnavailable) {
			t.Errorf("CheckEviction with the cluster down = %v, want ErrUnavailable", err)
		}
	})
}

func TestCheckEvictionReal(t *testing.T) {
	// Against a real Redis: set each policy with CONFIG SET, and restore the old one after.
	c := redistest.Real(t)
	ctx := context.Background()
	old, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		t.Skipf("this Redis refuses CONFIG GET: %v", err)
	}
	t.Cleanup(func() {
		if err := c.ConfigSet(context.Background(), "maxmemory-policy", old["maxmemory-policy"]).Err(); err != nil {
			t.Errorf("restoring maxmemory-policy %s: %v", old["maxmemory-policy"], err)
		}
	})
	for _, policy := range []string{"noeviction", "allkeys-lru", "volatile-ttl", "volatile-lfu", "noeviction"} {
		if err := c.ConfigSet(ctx, "maxmemory-policy", policy).Err(); err != nil {
			t.Skipf("this Redis refuses CONFIG SET: %v", err)
		}
		log := &logRecorder{}
		err := redisstore.New(c, &redisstore.Options{EvictionCheck: redisstore.EvictionRefuse}).CheckEviction(ctx)
		_ = redisstore.New(c, &redisstore.Options{Logger: slog.New(log)}).CheckEviction(ctx)
		if policy == "noeviction" {
			if err != nil || len(log.warnings()) != 0 {
				t.Errorf("%s: CheckEviction = %v, warnings %q; want neither", policy, err, log.warnings())
			}
			continue
		}
		if !errors.Is(err, redisstore.ErrEvictingPolicy) || !strings.Contains(err.Error(), policy) {
			t.Errorf("%s: CheckEviction = %v, want ErrEvictingPolicy naming the policy", policy, err)
		}
		if w := log.warnings(); len(w) != 1 || !strings.Contains(w[0], policy) {
			t.Errorf("%s: warnings %q, want one naming the policy", policy, w)
		}
		t.Logf("%s: %v", policy, err)
	}
}
