package search

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/collector/accesslog/altest"
)

// TestAthenaQuery: each search filter becomes its SQL clause, values
// quoted (a quote in a value cannot end the literal), and the collection
// days read start at since's.
func TestAthenaQuery(t *testing.T) {
	a := Athena{Bucket: "evidence", Prefix: "custody", Table: "ir_cloudtrail"}
	since := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	until := since.Add(24 * time.Hour)
	cases := []struct {
		f    Filter
		want []string
	}{
		{Filter{AccessKeys: []string{"AKIAX"}}, []string{"r.useridentity.accesskeyid IN ('AKIAX')"}},
		{Filter{Principals: []string{"arn:aws:iam::1:user/Mallory"}}, []string{"lower(r.useridentity.arn) IN ('arn:aws:iam::1:user/mallory')", "sessionissuer.arn"}},
		{Filter{Principals: []string{"x' OR 1=1 --"}}, []string{"IN ('x'' or 1=1 --')"}},
		{Filter{SourceIPs: []string{"203.0.113.0/24", "198.51.100.9"}}, []string{"contains('203.0.113.0/24', try_cast(r.sourceipaddress AS ipaddress))", "r.sourceipaddress = '198.51.100.9'"}},
		{Filter{Buckets: []string{"customer-data"}}, []string{"json_extract_scalar(r.requestparameters, '$.bucketName') IN ('customer-data')"}},
		{Filter{Key: "records/*-0-2.json"}, []string{`LIKE 'records/%-0-2.json' ESCAPE '\'`}},
		{Filter{Key: "50%_off/"}, []string{`LIKE '50\%\_off/%' ESCAPE '\'`}},
		{Filter{Events: []string{"DeleteObject", "PutBucketPolicy"}}, []string{"lower(r.eventname) IN ('deleteobject', 'putbucketpolicy')"}},
		{Filter{Errors: true}, []string{"r.errorcode IS NOT NULL"}},
	}
	for _, c := range cases {
		c.f.Since, c.f.Until = since, until
		q := a.CloudTrailQuery(c.f)
		for _, w := range append(c.want, "FROM ir_cloudtrail CROSS JOIN UNNEST(records) AS t (r)", "day >= '2026/11/20'",
			"from_iso8601_timestamp(r.eventtime) <= from_iso8601_timestamp('2026-11-21T14:00:00Z')") {
			if !strings.Contains(q, w) {
				t.Errorf("query for %+v lacks %q:\n%s", c.f, w, q)
			}
		}
		if strings.Count(q, "'")%2 != 0 {
			t.Errorf("unbalanced quotes:\n%s", q)
		}
	}
}

// TestAthenaTemplate: the location template, as a pattern, takes a key
// the CloudTrail collector writes apart into its partition values.
func TestAthenaTemplate(t *testing.T) {
	a := Athena{Bucket: "evidence", Prefix: "custody/", Accounts: []string{"111122223333"}, Regions: []string{"us-east-1"}}
	re := TemplateRegexp(a.CloudTrailLocationTemplate())
	key := "s3://evidence/custody/111122223333/us-east-1/cloudtrail/2026/11/29/20261129T101010Z-1a2b3c4d/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/29/f.json.gz"
	m := re.FindStringSubmatch(key)
	if m == nil || m[re.SubexpIndex("account")] != "111122223333" || m[re.SubexpIndex("region")] != "us-east-1" || m[re.SubexpIndex("day")] != "2026/11/29" {
		t.Fatalf("%s does not match %s: %v", key, re, m)
	}
	ddl := a.CloudTrailDDL()
	for _, w := range []string{"'storage.location.template' = 's3://evidence/custody/${account}/${region}/cloudtrail/${day}/'", "'projection.account.values' = '111122223333'",
		"LOCATION 's3://evidence/custody/'", "org.openx.data.jsonserde.JsonSerDe"} {
		if !strings.Contains(ddl, w) {
			t.Errorf("DDL lacks %q:\n%s", w, ddl)
		}
	}
}

// TestAccessLogRegex: the access-log table's regex, read back from the
// DDL as Hive reads it, takes generated records of every age apart into
// the documented fields.
func TestAccessLogRegex(t *testing.T) {
	ddl := Athena{Bucket: "evidence", Prefix: "custody", Accounts: []string{"111122223333"}, Regions: []string{"us-east-1"}}.AccessLogDDL()
	_, rest, _ := strings.Cut(ddl, "'input.regex' = '")
	hive, _, _ := strings.Cut(rest, "')")
	re := regexp.MustCompile("^" + strings.ReplaceAll(hive, `\\`, `\`))
	if re.NumSubexp() != len(AccessLogColumns) {
		t.Fatalf("%d groups, %d columns", re.NumSubexp(), len(AccessLogColumns))
	}
	col := func(m []string, name string) string { return m[1+slices.Index(AccessLogColumns, name)] }
	at := time.Date(2026, 11, 20, 14, 3, 7, 0, time.UTC)
	full := altest.Entry{Owner: "owner1", Bucket: "customer-data", Time: at, RemoteIP: "203.0.113.7", Requester: "arn:aws:iam::1:user/mallory", RequestID: "REQ1",
		Operation: "REST.GET.OBJECT", Key: "records/a%20b.json", RequestURI: "GET /customer-data/records/a%20b.json HTTP/1.1", Status: 200, BytesSent: 10, Size: 10,
		TotalMS: 5, TurnMS: 4, Referer: "https://example.com/a-b", UserAgent: "aws-cli/2.15.0 md/arch#x86_64", VersionID: "v1", HostID: "h", SigV: "SigV4", Cipher: "TLS_AES_128_GCM_SHA256",
		Auth: "AuthHeader", Host: "customer-data.s3.amazonaws.com", TLS: "TLSv1.3", AccessPoint: "-", ACLReq: "Yes"}
	m := re.FindStringSubmatch(full.Line())
	if m == nil || col(m, "requester") != "arn:aws:iam::1:user/mallory" || col(m, "operation") != "REST.GET.OBJECT" || col(m, "versionid") != "v1" ||
		col(m, "tlsversion") != "TLSv1.3" || col(m, "aclrequired") != "Yes" || col(m, "requestdatetime") != "20/Nov/2026:14:03:07 +0000" || col(m, "httpstatus") != "200" ||
		col(m, "useragent") != `"aws-cli/2.15.0 md/arch#x86_64"` {
		t.Fatalf("a full record: %q", m)
	}
	old := full
	old.Fields = 17
	if m := re.FindStringSubmatch(old.Line()); m == nil || col(m, "useragent") != `"aws-cli/2.15.0 md/arch#x86_64"` || col(m, "versionid") != "" {
		t.Fatalf("a record of 17 fields: %q", m)
	}
	if !strings.Contains(ddl, "'storage.location.template' = 's3://evidence/custody/${account}/${region}/accesslogs/${day}/'") {
		t.Fatalf("access-log DDL:\n%s", ddl)
	}
}
