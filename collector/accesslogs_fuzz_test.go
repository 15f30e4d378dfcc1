package collector

import (
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/collector/accesslog/altest"
	"github.com/custody-ir/custody/internal/config"
)

// FuzzAccessLogKeys: any listed key and any cursor (both come from S3)
// are taken without a panic, and the listing after a cursor that is a log
// object's key starts at or before that key (nothing newer is skipped).
func FuzzAccessLogKeys(f *testing.F) {
	t0 := time.Date(2026, 11, 29, 23, 59, 59, 0, time.UTC)
	for _, fm := range []altest.Format{{}, {Partitioned: true}, {Partitioned: true, EventTime: true}} {
		f.Add(altest.Key(fm, "logs/", "123456789012", "us-east-1", "b", t0, "ABCDEF0123456789"), int64(0))
	}
	f.Add("logs/2026-02-30-99-99-99-X", int64(3))
	f.Add("", int64(-1))
	f.Fuzz(func(t *testing.T, key string, shift int64) {
		tm := t0.Add(time.Duration(shift%1e6) * time.Second)
		ds := []delivery{
			{bucket: "t", prefix: "logs/", format: config.AccessLogSimple},
			{bucket: "t", prefix: "logs/123456789012/us-east-1/b/", format: config.AccessLogPartitioned, event: true},
			{bucket: "t", prefix: "logs/123456789012/us-east-1/b/", format: config.AccessLogPartitioned},
			{bucket: "f", prefix: "logs/"},
		}
		fms := []altest.Format{{}, {Partitioned: true, EventTime: true}, {Partitioned: true}}
		for i, d := range ds {
			d.belongs(key)
			d.startAfter(key)
			if i == 3 {
				continue
			}
			k := altest.Key(fms[i], "logs/", "123456789012", "us-east-1", "b", tm, "U"+key)
			if !d.belongs(k) {
				if !strings.Contains(key, "/") {
					t.Fatalf("%s: its own key %q does not belong", d.scope(), k)
				}
				continue
			}
			if sa := d.startAfter(k); sa >= k {
				t.Fatalf("%s: listing after cursor %q starts at %q, past it", d.scope(), k, sa)
			}
		}
	})
}
