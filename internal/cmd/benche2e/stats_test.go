package main

import (
	"math"
	"slices"
	"testing"
)

func TestMedian(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	tests := []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{2, nan, 9, 1}, 2}, // NaNs are left out
		{[]float64{}, nan},
		{[]float64{nan}, nan},
	}
	for _, tt := range tests {
		in := slices.Clone(tt.xs)
		got := median(tt.xs)
		if got != tt.want && !(math.IsNaN(got) && math.IsNaN(tt.want)) {
			t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
		if !slices.EqualFunc(in, tt.xs, func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }) {
			t.Errorf("median modified its input: %v, was %v", tt.xs, in)
		}
	}
}

func TestRatio(t *testing.T) {
	t.Parallel()
	if got := ratio(3, 2); got != 1.5 {
		t.Errorf("ratio(3, 2) = %v", got)
	}
	for _, b := range []float64{0, -1, math.NaN()} {
		if got := ratio(1, b); !math.IsNaN(got) {
			t.Errorf("ratio(1, %v) = %v, want NaN", b, got)
		}
	}
}

func TestVerdict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		x, bound  float64
		inclusive bool
		want      string
	}{
		{1.5, 1.5, true, "met"},
		{1.5, 1.5, false, "not met"},
		{0.9, 1, false, "met"},
		{1.2, 1.15, true, "not met"},
		{math.NaN(), 1, true, "no data"},
	}
	for _, tt := range tests {
		if got := verdict(tt.x, tt.bound, tt.inclusive); got != tt.want {
			t.Errorf("verdict(%v, %v, %v) = %q, want %q", tt.x, tt.bound, tt.inclusive, got, tt.want)
		}
	}
}
