package collector

import (
	"compress/gzip"
	"context"
	"crypto/md5" //nolint:gosec // S3 Inventory names its files' MD5
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/versionlist"
)

// Inventory reads a bucket's version list from its newest S3 Inventory
// report (CSV, all versions) instead of listing the bucket: for buckets
// too large to list on every run.
type Inventory struct {
	API trailBucketAPI
	// Bucket and Prefix locate the inventory configuration's reports:
	// <destination prefix>/<source bucket>/<configuration id>/.
	Bucket, Prefix string
}

// InventoryManifest is an inventory report's manifest.json.
type InventoryManifest struct {
	SourceBucket      string `json:"sourceBucket"`
	DestinationBucket string `json:"destinationBucket"`
	CreationTimestamp string `json:"creationTimestamp"`
	FileFormat        string `json:"fileFormat"`
	FileSchema        string `json:"fileSchema"`
	Files             []struct {
		Key         string `json:"key"`
		Size        int64  `json:"size"`
		MD5Checksum string `json:"MD5checksum"`
	} `json:"files"`
}

var reportFolderRE = regexp.MustCompile(`/(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z)/$`)

// Latest finds the newest report's manifest key.
func (inv *Inventory) Latest(ctx context.Context) (string, error) {
	prefix := strings.TrimSuffix(inv.Prefix, "/") + "/"
	p := s3.NewListObjectsV2Paginator(inv.API, &s3.ListObjectsV2Input{Bucket: aws.String(inv.Bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	newest, token := "", ""
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list inventory reports s3://%s/%s: %w", inv.Bucket, prefix, awsclient.CollectorRole.Explain(err))
		}
		if err := awsclient.ObjectsAdvance(&token, page); err != nil {
			return "", fmt.Errorf("list inventory reports s3://%s/%s: %w", inv.Bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			if f := aws.ToString(cp.Prefix); strings.HasPrefix(f, prefix) && reportFolderRE.MatchString(f) && f > newest {
				newest = f
			}
		}
	}
	if newest == "" {
		return "", fmt.Errorf("no inventory report under s3://%s/%s", inv.Bucket, prefix)
	}
	return newest + "manifest.json", nil
}

// maxInventoryRow bounds one row of an inventory file (an S3 key is at
// most 1,024 bytes, 3,072 URL-encoded): a longer one is not an
// inventory row, and reading it whole could take any amount of memory.
const maxInventoryRow = 1 << 20

var errRowTooLong = fmt.Errorf("a row longer than %d bytes: not an S3 Inventory CSV file", maxInventoryRow)

// rowLimit lets a CSV reader read at most up to allowed bytes.
type rowLimit struct {
	r             io.Reader
	read, allowed int64
}

func (l *rowLimit) Read(p []byte) (int, error) {
	// The CSV reader buffers ahead; a little slack keeps the limit off
	// rows that merely end in the buffer.
	left := l.allowed + 64<<10 - l.read
	if left <= 0 {
		return 0, errRowTooLong
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := l.r.Read(p)
	l.read += int64(n)
	return n, err
}

// WriteVersions converts the report at manifestKey into version records
// (internal/versionlist's format) on w, checking every file's MD5 against the manifest.
// It returns the number of records and whether they came in key order.
func (inv *Inventory) WriteVersions(ctx context.Context, manifestKey string, w io.Writer) (int64, bool, error) {
	obj, err := inv.API.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(inv.Bucket), Key: aws.String(manifestKey)})
	if err != nil {
		return 0, false, fmt.Errorf("read s3://%s/%s: %w", inv.Bucket, manifestKey, awsclient.CollectorRole.Explain(err))
	}
	raw, err := io.ReadAll(io.LimitReader(obj.Body, 64<<20))
	obj.Body.Close()
	if err != nil {
		return 0, false, err
	}
	var m InventoryManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, false, fmt.Errorf("inventory manifest s3://%s/%s: %w", inv.Bucket, manifestKey, err)
	}
	if m.FileFormat != "CSV" {
		return 0, false, fmt.Errorf("inventory manifest s3://%s/%s: format %q; only CSV reports are read", inv.Bucket, manifestKey, m.FileFormat)
	}
	cols := map[string]int{}
	for i, c := range strings.Split(m.FileSchema, ",") {
		cols[strings.TrimSpace(c)] = i
	}
	for _, need := range []string{"Key", "VersionId", "IsLatest", "IsDeleteMarker", "LastModifiedDate"} {
		if _, ok := cols[need]; !ok {
			return 0, false, fmt.Errorf("inventory s3://%s/%s lists no %s: configure the inventory with all versions", inv.Bucket, manifestKey, need)
		}
	}
	vw := versionlist.NewWriter(w)
	sorted, last := true, ""
	for _, f := range m.Files {
		err := inv.readFile(ctx, f.Key, f.MD5Checksum, cols, func(r versionlist.Record) error {
			if r.Key < last {
				sorted = false
			}
			last = r.Key
			return vw.Write(&r)
		})
		if err != nil {
			return vw.Count(), sorted, err
		}
	}
	return vw.Count(), sorted, vw.Close()
}

func (inv *Inventory) readFile(ctx context.Context, key, wantMD5 string, cols map[string]int, fn func(versionlist.Record) error) error {
	obj, err := inv.API.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(inv.Bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("read inventory file s3://%s/%s: %w", inv.Bucket, key, awsclient.CollectorRole.Explain(err))
	}
	defer obj.Body.Close()
	h := md5.New() //nolint:gosec // S3 Inventory's manifest gives each file's MD5; a transfer check, not a security one
	tee := io.TeeReader(obj.Body, h)
	zr, err := gzip.NewReader(tee)
	if err != nil {
		return fmt.Errorf("inventory file s3://%s/%s: %w", inv.Bucket, key, err)
	}
	rows := &rowLimit{r: zr, allowed: maxInventoryRow}
	cr := csv.NewReader(rows)
	cr.FieldsPerRecord = len(cols)
	get := func(rec []string, col string) string {
		if i, ok := cols[col]; ok && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("inventory file s3://%s/%s line %d: %w", inv.Bucket, key, line, err)
		}
		rows.allowed = cr.InputOffset() + maxInventoryRow
		k, err := url.QueryUnescape(get(rec, "Key"))
		if err != nil {
			return fmt.Errorf("inventory file s3://%s/%s line %d: key %q: %w", inv.Bucket, key, line, get(rec, "Key"), err)
		}
		if !utf8.ValidString(k) {
			return fmt.Errorf("inventory file s3://%s/%s line %d: key %q is not UTF-8 once decoded, as every S3 key is: the file is damaged", inv.Bucket, key, line, get(rec, "Key"))
		}
		lm, err := time.Parse(time.RFC3339Nano, get(rec, "LastModifiedDate"))
		if err != nil {
			return fmt.Errorf("inventory file s3://%s/%s line %d: LastModifiedDate: %w", inv.Bucket, key, line, err)
		}
		size, _ := strconv.ParseInt(get(rec, "Size"), 10, 64)
		vr := versionlist.Record{Key: k, VersionID: get(rec, "VersionId"), IsLatest: get(rec, "IsLatest") == "true",
			DeleteMarker: get(rec, "IsDeleteMarker") == "true", LastModified: lm.UTC(), Size: size,
			ETag: get(rec, "ETag"), StorageClass: get(rec, "StorageClass")}
		if vr.VersionID == "" {
			vr.VersionID = "null"
		}
		if err := fn(vr); err != nil {
			return err
		}
	}
	if _, err := io.Copy(io.Discard, tee); err != nil { // the rest, for the MD5
		return fmt.Errorf("read inventory file s3://%s/%s: %w", inv.Bucket, key, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); wantMD5 != "" && !strings.EqualFold(got, wantMD5) {
		return fmt.Errorf("inventory file s3://%s/%s: MD5 %s, the manifest says %s", inv.Bucket, key, got, wantMD5)
	}
	return nil
}
