package config

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

var lookbackDaysRE = regexp.MustCompile(`^(\d{1,5})d$`)

// LookbackPeriod is Lookback as a duration: 0 when unset (the collector's
// default, 90 days), a Go duration (36h) or whole days (90d).
func (t Trail) LookbackPeriod() (time.Duration, error) { return ParseLookback(t.Lookback) }

// ParseLookback reads a lookback: "" (0), a Go duration or Nd days, at
// most ten years and more than zero.
func ParseLookback(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	var d time.Duration
	if m := lookbackDaysRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1]) // five digits: cannot fail
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("a duration such as 90d or 36h expected, got %q", s)
		}
	}
	if d <= 0 || d > 3660*24*time.Hour {
		return 0, fmt.Errorf("a lookback of more than zero and at most 3660d expected, got %q", s)
	}
	return d, nil
}
