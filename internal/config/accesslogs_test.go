package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestValidateAccessLogs(t *testing.T) {
	var got []string
	add := func(path, format string, args ...any) { got = append(got, path+": "+fmt.Sprintf(format, args...)) }
	a := Account{Buckets: []string{"orders"}, LogBuckets: []BucketPrefix{{Bucket: "flow-logs"}, {Bucket: "Bad_Name"}},
		AccessLogs: []AccessLogTarget{
			{Bucket: "orders", TargetBucket: "orders-logs", TargetPrefix: "logs/", Format: "partitioned", DateSource: "DeliveryTime"},
			{Bucket: "orders", TargetBucket: "orders-logs"},
			{Bucket: "not-monitored", TargetBucket: "x", Format: "jsonl", DateSource: "EventTime"},
			{Bucket: "orders", TargetBucket: "orders-logs", DateSource: "Whenever"},
		}}
	validateAccessLogs(add, "sources.accounts[0]", a)
	paths := make([]string, len(got))
	for i, g := range got {
		paths[i], _, _ = strings.Cut(g, ": ")
	}
	want := []string{"sources.accounts[0].log_buckets[1].bucket", "sources.accounts[0].access_logs[2].bucket", "sources.accounts[0].access_logs[2].target_bucket",
		"sources.accounts[0].access_logs[2].format", "sources.accounts[0].access_logs[2].date_source", "sources.accounts[0].access_logs[3].date_source"}
	if !slices.Equal(paths, want) {
		t.Fatalf("problems:\n%v\nwant paths %v", got, want)
	}
}
