package main

import (
	"encoding/json"
	"testing"
	"time"
)

// TestContainmentInTheTimeline: a key writes to a bucket (a sealed
// CloudTrail data event), is contained, and the bucket's timeline shows
// the write and then the containment, from the manifests that sealed it:
// the event, the case and the key.
func TestContainmentInTheTimeline(t *testing.T) {
	f := newContainFixture(t)
	key, _ := f.user(t, "timeline-user-"+f.suffix)
	bucket := "victim-" + f.suffix
	sealTrail(t, f.cfg, []map[string]any{{"eventVersion": "1.09", "eventTime": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), "eventSource": "s3.amazonaws.com",
		"eventName": "PutObject", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.7", "requestID": "REQT1", "eventID": "t-1", "eventCategory": "Data", "managementEvent": false,
		"userIdentity":      map[string]any{"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/timeline-user-" + f.suffix, "accountId": "123456789012", "accessKeyId": key},
		"requestParameters": map[string]any{"bucketName": bucket, "key": "ransom.txt"}, "responseElements": map[string]any{"x-amz-version-id": "v1"}, "recipientAccountId": "123456789012"}})
	if _, errOut, code := f.contain(t, "key", "--access-key", key, "--case", "IR-TL", "--yes"); code != 0 {
		t.Fatalf("contain key: exit %d\n%s", code, errOut)
	}
	out, errOut, code := run(t, "-c", f.cfg, "--json", "timeline", "--bucket", bucket, "--since", "1h")
	if code != 0 {
		t.Fatalf("timeline: exit %d\n%s%s", code, out, errOut)
	}
	var res struct {
		Entries []struct {
			Kind  string `json:"kind"`
			Event *struct {
				Event   string            `json:"event"`
				Case    string            `json:"case"`
				Details map[string]string `json:"details"`
			} `json:"event"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	contained := 0
	for _, e := range res.Entries {
		kinds = append(kinds, e.Kind)
		if e.Kind == "custody-event" && e.Event != nil && e.Event.Event == "contain" && e.Event.Case == "IR-TL" && e.Event.Details["accessKey"] == key {
			contained++
		}
	}
	if len(kinds) == 0 || kinds[0] != "data-event" || contained == 0 {
		t.Fatalf("timeline entries %v: want the key's write, then its containment (%d contain events)\n%s", kinds, contained, out)
	}
}
