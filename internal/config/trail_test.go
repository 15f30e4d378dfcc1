package config

import (
	"strings"
	"testing"
	"time"
)

func TestTrailLookback(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "90d": 90 * 24 * time.Hour, "36h": 36 * time.Hour, "1d": 24 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParseLookback(in); err != nil || got != want {
			t.Errorf("ParseLookback(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"0d", "-1h", "90 days", "d", "99999d", "1.5d"} {
		if _, err := ParseLookback(bad); err == nil {
			t.Errorf("ParseLookback(%q) accepted", bad)
		}
	}
	c := valid()
	c.Sources.Accounts[0].Trails = []Trail{{Name: "t", Bucket: "logs", Lookback: "ninety days"}}
	ps := Validate(c)
	if len(ps) != 1 || ps[0].Path != "sources.accounts[0].trails[0].lookback" || !strings.Contains(ps[0].Message, "90d") {
		t.Fatalf("a bad lookback: %v", ps)
	}
	c.Sources.Accounts[0].Trails[0].Lookback = "30d"
	if ps := Validate(c); len(ps) != 0 {
		t.Fatalf("lookback 30d: %v", ps)
	}
}

func FuzzParseLookback(f *testing.F) {
	for _, s := range []string{"", "90d", "36h", "0d", "99999d", "1h30m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseLookback(s)
		if err == nil && s != "" && (d <= 0 || d > 3660*24*time.Hour) {
			t.Fatalf("ParseLookback(%q) = %s", s, d)
		}
	})
}
