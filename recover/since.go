package recovery

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	dateOnlyRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	noOffsetRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$`)
	daysRE     = regexp.MustCompile(`^(\d+)d$`)
)

// ParseSince reads the T of --since: an RFC 3339 time with an explicit
// offset (2026-11-20T14:00:00Z, 2026-11-20T09:00:00-05:00) or a duration
// back from now (36h, 90m, 7d). Forms that leave the instant ambiguous,
// a date alone or a time without an offset, are rejected, as are times in
// the future. The result is in UTC.
func ParseSince(s string, now time.Time) (time.Time, error) { return ParseTime("--since", s, now) }

// ParseTime is ParseSince for any flag: errors name flag.
func ParseTime(flag, s string, now time.Time) (time.Time, error) {
	t, err := parseTime(s, now)
	if err != nil {
		return t, errors.New(strings.ReplaceAll(err.Error(), "--since", flag))
	}
	return t, nil
}

func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return time.Time{}, errors.New("--since is required: an RFC 3339 time with offset (2026-11-20T14:00:00Z) or a duration back from now (36h)")
	case dateOnlyRE.MatchString(s):
		return time.Time{}, fmt.Errorf("--since %q is a date without a time or offset, which is ambiguous; give %sT00:00:00Z (UTC) or an explicit offset", s, s)
	case noOffsetRE.MatchString(s):
		return time.Time{}, fmt.Errorf("--since %q has no UTC offset, which is ambiguous; add Z for UTC or an offset such as +02:00", s)
	}
	if m := daysRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 36500 {
			return time.Time{}, fmt.Errorf("--since %q: too many days", s)
		}
		return now.UTC().Add(-time.Duration(n) * 24 * time.Hour), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("--since %q: a positive duration back from now expected", s)
		}
		return now.UTC().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: neither an RFC 3339 time with offset (2026-11-20T14:00:00Z) nor a duration (36h, 7d)", s)
	}
	if t.After(now) {
		return time.Time{}, fmt.Errorf("--since %s is in the future (now is %s)", t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return t.UTC(), nil
}
