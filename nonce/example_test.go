package nonce_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ratatoskr-proto/ratatoskr/nonce"
)

func ExampleNewMemory() {
	store := nonce.NewMemory(nil)
	ctx := context.Background()
	scope := "user-42\x00phone-1"           // user_id + "\x00" + device_id
	n := []byte("0123456789abcdef")         // the envelope's nonce
	ttl := 300*time.Second + 30*time.Second // window + skew

	fmt.Println("first:", store.Record(ctx, scope, n, ttl))
	err := store.Record(ctx, scope, n, ttl)
	fmt.Println("again:", err, errors.Is(err, nonce.ErrReplay))
	fmt.Println("other device:", store.Record(ctx, "user-42\x00laptop-1", n, ttl))
	// Output:
	// first: <nil>
	// again: nonce: replayed true
	// other device: <nil>
}
