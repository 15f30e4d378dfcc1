package cttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ConfigDelivery writes what AWS Config delivers to its bucket for days
// days from start: a snapshot and an hourly history file per day, in the
// exact layout (month and day not zero-padded). It returns the keys.
func ConfigDelivery(ctx context.Context, p Putter, bucket, prefix, account, region string, start time.Time, days int) ([]string, error) {
	var keys []string
	for d := 0; d < days; d++ {
		day := start.Add(time.Duration(d) * 24 * time.Hour).UTC()
		base := fmt.Sprintf("AWSLogs/%s/Config/%s/%d/%d/%d/", account, region, day.Year(), int(day.Month()), day.Day())
		if prefix != "" {
			base = prefix + "/" + base
		}
		snapAt := day.Add(6 * time.Hour)
		item := map[string]any{"configurationItemCaptureTime": snapAt.Format(time.RFC3339), "resourceType": "AWS::S3::Bucket",
			"resourceId": "customer-data", "awsAccountId": account, "awsRegion": region, "configurationItemStatus": "OK",
			"configuration": map[string]any{"name": "customer-data"}}
		snap, _ := json.Marshal(map[string]any{"fileVersion": "1.0", "configSnapshotId": fmt.Sprintf("snap-%d", d), "configurationItems": []any{item}})
		hist, _ := json.Marshal(map[string]any{"fileVersion": "1.0", "configurationItems": []any{item}})
		files := map[string][]byte{
			base + fmt.Sprintf("ConfigSnapshot/%s_Config_%s_ConfigSnapshot_%s_%08x.json.gz", account, region, snapAt.Format("20060102T150405Z"), d): Gzip(snap),
			base + fmt.Sprintf("ConfigHistory/%s_Config_%s_ConfigHistory_AWS::S3::Bucket_%s_%s_1.json.gz", account, region,
				day.Format("20060102T150405Z"), day.Add(6*time.Hour).Format("20060102T150405Z")): Gzip(hist),
		}
		for k, b := range files {
			if _, err := p.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(b)}); err != nil {
				return nil, fmt.Errorf("put %s: %w", k, err)
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}
