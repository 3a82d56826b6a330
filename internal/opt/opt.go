// Package opt holds the helpers the packages' option structs share.
package opt

import "time"

// Default sets *p to def when *p is zero or negative: the "zero means the
// documented default" rule of every options struct.
func Default[T int | time.Duration](p *T, def T) {
	if *p <= 0 {
		*p = def
	}
}
