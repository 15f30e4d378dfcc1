package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/testaws"
)

// writeInventory writes an S3 Inventory report (CSV, all versions) of src
// into dest, in two files, as S3 would.
func writeInventory(t *testing.T, c *s3.Client, src, dest, folder string, badMD5 bool) (prefix string, rows int) {
	t.Helper()
	ctx := context.Background()
	prefix = "inventory/" + src + "/all-versions"
	var lines [][]string
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(src)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			lines = append(lines, []string{src, url.QueryEscape(aws.ToString(v.Key)), aws.ToString(v.VersionId), fmt.Sprint(aws.ToBool(v.IsLatest)), "false",
				fmt.Sprint(aws.ToInt64(v.Size)), aws.ToTime(v.LastModified).UTC().Format("2006-01-02T15:04:05.000Z"), strings.Trim(aws.ToString(v.ETag), `"`), "STANDARD"})
		}
		for _, m := range page.DeleteMarkers {
			lines = append(lines, []string{src, url.QueryEscape(aws.ToString(m.Key)), aws.ToString(m.VersionId), fmt.Sprint(aws.ToBool(m.IsLatest)), "true",
				"", aws.ToTime(m.LastModified).UTC().Format("2006-01-02T15:04:05.000Z"), "", ""})
		}
	}
	type file struct {
		Key         string `json:"key"`
		Size        int64  `json:"size"`
		MD5Checksum string `json:"MD5checksum"`
	}
	var files []file
	for i, part := range [][][]string{lines[:len(lines)/2], lines[len(lines)/2:]} {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		cw := csv.NewWriter(zw)
		if err := cw.WriteAll(part); err != nil {
			t.Fatal(err)
		}
		zw.Close()
		sum := md5.Sum(buf.Bytes())
		key := fmt.Sprintf("%s/data/%d.csv.gz", prefix, i)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(dest), Key: aws.String(key), Body: bytes.NewReader(buf.Bytes())}); err != nil {
			t.Fatal(err)
		}
		md := hex.EncodeToString(sum[:])
		if badMD5 && i == 1 {
			md = strings.Repeat("0", 32)
		}
		files = append(files, file{key, int64(buf.Len()), md})
	}
	manifest, _ := json.Marshal(map[string]any{"sourceBucket": src, "destinationBucket": "arn:aws:s3:::" + dest, "version": "2016-11-30",
		"fileFormat": "CSV", "fileSchema": "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass", "files": files})
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(dest), Key: aws.String(prefix + "/" + folder + "/manifest.json"), Body: bytes.NewReader(manifest)}); err != nil {
		t.Fatal(err)
	}
	return prefix, len(lines)
}

func TestVersionListFromInventory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	src := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{Versioning: true})
	for i := 0; i < 6; i++ {
		k := fmt.Sprintf("reports/q%d 2026+final%%.csv", i)
		if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(k), Body: strings.NewReader("y")}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := e.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(src), Key: aws.String(k)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dest := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{})
	writeInventory(t, e.s3, src, dest, "2026-11-20T00-00Z", true) // an older report, damaged
	prefix, rows := writeInventory(t, e.s3, src, dest, "2026-11-22T00-00Z", false)

	v := &Versions{API: e.s3, Bucket: src, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now,
		Inventory: &Inventory{API: e.s3, Bucket: dest, Prefix: prefix}}
	if _, err := RunOne(ctx, e.Chain, v); err != nil {
		t.Fatal(err)
	}
	r := e.verify(t)
	subj := r.Manifests[len(r.Manifests)-1].Subjects()[0]
	if !strings.HasSuffix(subj.Annotations.Source, "2026-11-22T00-00Z/manifest.json") {
		t.Fatalf("read %s, not the newest report", subj.Annotations.Source)
	}
	zr, err := gzip.NewReader(bytes.NewReader(e.read(t, subj.Name)))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(zr)
	n, markers := 0, 0
	for dec.More() {
		var rec VersionRecord
		if err := dec.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(rec.Key, " 2026+final%.csv") {
			t.Fatalf("key not decoded: %q", rec.Key)
		}
		if rec.DeleteMarker {
			markers++
		}
		n++
	}
	if n != rows || markers != 3 {
		t.Fatalf("%d records (%d markers), the report has %d rows", n, markers, rows)
	}

	// A report whose file does not match its MD5 fails the run, which still seals.
	bad := &Versions{API: e.s3, Bucket: src, Account: "123456789012", Region: "us-east-1", Prefix: "custody", Now: time.Now,
		Inventory: &Inventory{API: e.s3, Bucket: dest, Prefix: prefix}}
	writeInventory(t, e.s3, src, dest, "2026-11-23T00-00Z", true)
	if _, err := RunOne(ctx, e.Chain, bad); err == nil || !strings.Contains(err.Error(), "MD5") {
		t.Fatalf("damaged report: %v", err)
	}
	e.verify(t)
}
