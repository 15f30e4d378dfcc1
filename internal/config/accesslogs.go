package config

import (
	"fmt"
	"slices"
)

// AccessLogTarget is where a monitored bucket's S3 server access logs
// are delivered, as PutBucketLogging sets it: TargetBucket, TargetPrefix,
// and the key format, "simple" ([prefix]YYYY-mm-DD-HH-MM-SS-UniqueString)
// or "partitioned" ([prefix][account]/[region]/[bucket]/YYYY/MM/DD/...),
// partitioned by DateSource, "EventTime" (the default, as in S3) or
// "DeliveryTime".
type AccessLogTarget struct {
	Bucket       string `mapstructure:"bucket"`
	TargetBucket string `mapstructure:"target_bucket"`
	TargetPrefix string `mapstructure:"target_prefix"`
	Format       string `mapstructure:"format"`
	DateSource   string `mapstructure:"date_source"`
}

// Access log key formats.
const (
	AccessLogSimple      = "simple"
	AccessLogPartitioned = "partitioned"
)

func validateAccessLogs(add func(string, string, ...any), p string, a Account) {
	for j, b := range a.LogBuckets {
		if !bucketRE.MatchString(b.Bucket) {
			add(fmt.Sprintf("%s.log_buckets[%d].bucket", p, j), "an S3 bucket name expected, got %q", b.Bucket)
		}
	}
	for j, t := range a.AccessLogs {
		tp := fmt.Sprintf("%s.access_logs[%d]", p, j)
		if !slices.Contains(a.Buckets, t.Bucket) {
			add(tp+".bucket", "one of the account's monitored buckets expected, got %q", t.Bucket)
		}
		if !bucketRE.MatchString(t.TargetBucket) {
			add(tp+".target_bucket", "the bucket its access logs are delivered to expected, got %q", t.TargetBucket)
		}
		switch t.Format {
		case "", AccessLogSimple, AccessLogPartitioned:
		default:
			add(tp+".format", "%q or %q expected, got %q", AccessLogSimple, AccessLogPartitioned, t.Format)
		}
		switch t.DateSource {
		case "", "EventTime", "DeliveryTime":
			if t.DateSource != "" && t.Format != AccessLogPartitioned {
				add(tp+".date_source", "only meaningful with format: %s", AccessLogPartitioned)
			}
		default:
			add(tp+".date_source", "EventTime or DeliveryTime expected, got %q", t.DateSource)
		}
	}
}
