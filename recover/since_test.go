package recovery

import (
	"strings"
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ok := []struct {
		in   string
		want time.Time
	}{
		{"2026-11-20T14:00:00Z", time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)},
		{"2026-11-20T09:00:00-05:00", time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)},
		{"2026-11-20T14:00:00.123456789+00:00", time.Date(2026, 11, 20, 14, 0, 0, 123456789, time.UTC)},
		{"36h", now.Add(-36 * time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"7d", now.Add(-7 * 24 * time.Hour)},
		{" 1h30m ", now.Add(-90 * time.Minute)},
	}
	for _, tc := range ok {
		got, err := ParseSince(tc.in, now)
		if err != nil {
			t.Errorf("ParseSince(%q): %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("ParseSince(%q) = %v, want %v in UTC", tc.in, got, tc.want)
		}
	}
	bad := map[string]string{
		"":                     "required",
		"2026-11-20":           "date without a time",
		"2026-11-20T14:00:00":  "no UTC offset",
		"2026-11-20 14:00":     "no UTC offset",
		"-5h":                  "positive duration",
		"0s":                   "positive duration",
		"2026-12-01T00:00:00Z": "future",
		"yesterday":            "neither",
		"11/20/2026":           "neither",
		"99999999d":            "too many days",
	}
	for in, want := range bad {
		_, err := ParseSince(in, now)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSince(%q) error = %v, want one mentioning %q", in, err, want)
		}
	}
}

func FuzzParseSince(f *testing.F) {
	for _, s := range []string{"2026-11-20T14:00:00Z", "36h", "7d", "2026-11-20", "", "1e9h"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSince(s, now)
		if err == nil && (got.After(now) || got.Location() != time.UTC) {
			t.Fatalf("ParseSince(%q) = %v: after now or not UTC", s, got)
		}
	})
}
