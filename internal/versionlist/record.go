package versionlist

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Kind is the artifact kind of a version list in the evidence store and
// the ledger.
const Kind = "versions"

// ContentType is a version list artifact's content type (its bytes are
// gzip-compressed NDJSON).
const ContentType = "application/x-ndjson"

// Record is one line of a version list: a version or a delete marker. A
// list holds a bucket's versions in the order S3 lists them, by key and
// newest first; recover reads them to know what existed at a past time.
type Record struct {
	Key               string    `json:"key"`
	VersionID         string    `json:"versionId"`
	IsLatest          bool      `json:"isLatest"`
	LastModified      time.Time `json:"lastModified"`
	DeleteMarker      bool      `json:"deleteMarker,omitempty"`
	ETag              string    `json:"etag,omitempty"`
	Size              int64     `json:"size"`
	StorageClass      string    `json:"storageClass,omitempty"`
	ChecksumAlgorithm []string  `json:"checksumAlgorithm,omitempty"`
	Owner             string    `json:"owner,omitempty"`
}

// The file names of a bucket's version list: one file, or a root part
// (the keys at the top level) and one numbered part per top-level prefix,
// or one file converted from an S3 Inventory report. The bucket's name
// comes first, so BucketOf can read it back from any of them.
const (
	suffix          = ".ndjson.gz"
	single          = ".versions" + suffix
	rootSuffix      = ".versions.root" + suffix
	inventorySuffix = ".versions.inventory" + suffix
	partInfix       = ".versions."
)

// Name is the file name of bucket's version list taken in one listing.
func Name(bucket string) string { return bucket + single }

// RootName is the file name of the root part of a split listing.
func RootName(bucket string) string { return bucket + rootSuffix }

// PartName is the file name of part i (from 1) of a split listing.
func PartName(bucket string, i int) string {
	return fmt.Sprintf("%s%s%05d%s", bucket, partInfix, i, suffix)
}

// InventoryName is the file name of a version list converted from an S3
// Inventory report.
func InventoryName(bucket string) string { return bucket + inventorySuffix }

// BucketOf reads the listed bucket back from a version list's key or file
// name, and reports whether it is one of the names above. It reads from
// the end, so a bucket named like "logs.versions.old" is read right.
func BucketOf(key string) (string, bool) {
	name := path.Base(key)
	for _, s := range []string{single, rootSuffix, inventorySuffix} {
		if b, ok := strings.CutSuffix(name, s); ok && b != "" {
			return b, true
		}
	}
	rest, ok := strings.CutSuffix(name, suffix)
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, partInfix)
	if i <= 0 {
		return "", false
	}
	digits := rest[i+len(partInfix):]
	if len(digits) < 5 || strings.Trim(digits, "0123456789") != "" {
		return "", false
	}
	return rest[:i], true
}
