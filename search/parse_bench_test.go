package search

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// BenchmarkParseCloudTrail: one CloudTrail log file of 30 S3 data events
// (as BenchmarkSearchAccessKey writes them), parsed (readCloudTrail), and
// turned into index terms from its gzip bytes as collection does
// (fileTerms: hash, gunzip, parse, terms).
//
//	go test -run '^$' -bench ParseCloudTrail -benchmem ./search/
func BenchmarkParseCloudTrail(b *testing.B) {
	var recs []map[string]any
	at := time.Now()
	for j := 0; j < 30; j++ {
		recs = append(recs, map[string]any{
			"eventVersion": "1.09", "eventTime": at.Add(-time.Duration(30-j) * 10 * time.Second).Format(time.RFC3339), "eventSource": "s3.amazonaws.com",
			"eventName": "GetObject", "awsRegion": "us-east-1", "sourceIPAddress": "10.0.3.7", "userAgent": "[aws-sdk-go-v2/1.30.0 os/linux lang/go#1.22]",
			"userIdentity": map[string]any{"type": "AssumedRole", "arn": "arn", "accountId": "111122223333", "accessKeyId": "ASIA", "principalId": "AROAEXAMPLE:i-0abc",
				"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "arn": "arn:aws:iam::111122223333:role/app", "userName": "app"},
					"attributes": map[string]any{"creationDate": at.Format(time.RFC3339), "mfaAuthenticated": "false"}}},
			"requestParameters": map[string]any{"bucketName": "customer-data", "key": fmt.Sprintf("records/%d/%d.json", 1, j), "Host": "customer-data.s3.us-east-1.amazonaws.com"},
			"responseElements":  nil, "additionalEventData": map[string]any{"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0, "bytesTransferredOut": 1520, "x-amz-id-2": "EXAMPLEid2"},
			"requestID": fmt.Sprintf("REQ%08d%02d", 1, j), "eventID": fmt.Sprintf("%08x-0000-4000-8000-%012x", 1, j), "readOnly": true,
			"resources": []any{map[string]any{"type": "AWS::S3::Object", "ARN": fmt.Sprintf("arn:aws:s3:::customer-data/records/%d/%d.json", 1, j)}, map[string]any{"accountId": "111122223333", "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::customer-data"}},
			"eventType": "AwsApiCall", "managementEvent": false, "recipientAccountId": "111122223333", "eventCategory": "Data",
		})
	}
	raw, _ := json.Marshal(map[string]any{"Records": recs})
	gz := gzipped(raw)
	sha := hashOf(gz)
	b.Run("readCloudTrail", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if err := readCloudTrail(raw, func(*Record) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fileTerms", func(b *testing.B) {
		for b.Loop() {
			if _, err := fileTerms(KindCloudTrailLog, sha, gz); err != nil {
				b.Fatal(err)
			}
		}
	})
}
