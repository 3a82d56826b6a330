package opt

import (
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{0, 7}, {-1, 7}, {3, 3}} {
		v := tc.in
		Default(&v, 7)
		if v != tc.want {
			t.Errorf("Default(%d, 7) = %d", tc.in, v)
		}
	}
	d := time.Duration(0)
	Default(&d, time.Second)
	if d != time.Second {
		t.Errorf("duration %v", d)
	}
}
