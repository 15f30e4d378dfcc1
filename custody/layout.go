package custody

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Key layout of the evidence bucket (docs/layout.md):
//
//	<prefix>/<account>/<region>/<kind>/<yyyy>/<mm>/<dd>/<run>/<name>   collected artifacts
//	<prefix>/cases/<case>/<yyyy>/<mm>/<dd>/<run>/<name>                files added to a case
//	<prefix>/events/<stream>/<yyyy>/<mm>/<dd>/<run>/<name>             records of exports and recoveries
//	<prefix>/manifests/<stream>/<seq, 12 digits>.dsse.json              manifests, one per run or event
//	<prefix>/manifests/<stream>/<seq, 12 digits>.tsr                    its RFC 3161 timestamp, if a TSA is configured
//	<prefix>/manifests/<stream>/checkpoint                              the stream's log checkpoint (tlog.go)
//	<prefix>/manifests/<stream>/checkpoint-<sha256>.tsr                 its RFC 3161 token, per version, if a TSA is configured
//	<prefix>/manifests/<stream>/checkpoint.dsse.json                    the signed chain head of stores written before the log

const (
	manifestDir     = "manifests"
	manifestSuffix  = ".dsse.json"
	checkpointName  = "checkpoint" + manifestSuffix
	timestampSuffix = ".tsr"
)

var segmentBad = regexp.MustCompile(`[^A-Za-z0-9._=-]+`)

// segment makes s safe as one key segment.
func segment(s string) string {
	s = segmentBad.ReplaceAllString(s, "-")
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return s
}

func join(prefix string, parts ...string) string {
	all := make([]string, 0, len(parts)+1)
	if p := strings.Trim(prefix, "/"); p != "" {
		all = append(all, p)
	}
	return strings.Join(append(all, parts...), "/")
}

func datePath(t time.Time) []string {
	t = t.UTC()
	return []string{fmt.Sprintf("%04d", t.Year()), fmt.Sprintf("%02d", t.Month()), fmt.Sprintf("%02d", t.Day())}
}

// ArtifactKey is where a collected artifact goes.
func ArtifactKey(prefix, account, region, kind string, t time.Time, runID, name string) string {
	parts := append([]string{segment(account), segment(region), segment(kind)}, datePath(t)...)
	return join(prefix, append(parts, segment(runID), segment(name))...)
}

// ArtifactPath is ArtifactKey for an artifact that keeps its original
// key's folders below the run (a CloudTrail file under AWSLogs/...): each
// segment is made safe on its own.
func ArtifactPath(prefix, account, region, kind string, t time.Time, runID, original string) string {
	parts := append([]string{segment(account), segment(region), segment(kind)}, datePath(t)...)
	parts = append(parts, segment(runID))
	for _, s := range strings.Split(original, "/") {
		if s != "" {
			parts = append(parts, segment(s))
		}
	}
	return join(prefix, parts...)
}

// CaseKey is where a file added to a case goes.
func CaseKey(prefix, caseID string, t time.Time, runID, name string) string {
	parts := append([]string{"cases", segment(caseID)}, datePath(t)...)
	return join(prefix, append(parts, segment(runID), segment(name))...)
}

// EventKey is where the record of a custody event (export, recovery) goes.
func EventKey(prefix, stream string, t time.Time, runID, name string) string {
	parts := append([]string{"events", segment(stream)}, datePath(t)...)
	return join(prefix, append(parts, segment(runID), segment(name))...)
}

// ManifestPrefix is the folder of all manifests.
func ManifestPrefix(prefix string) string { return join(prefix, manifestDir) + "/" }

// ManifestKey is the key of manifest seq of stream.
func ManifestKey(prefix, stream string, seq int64) string {
	return join(prefix, manifestDir, segment(stream), fmt.Sprintf("%012d%s", seq, manifestSuffix))
}

// TimestampKey is the key of manifest seq's RFC 3161 timestamp token.
func TimestampKey(prefix, stream string, seq int64) string {
	return strings.TrimSuffix(ManifestKey(prefix, stream, seq), manifestSuffix) + timestampSuffix
}

// ParseTimestampKey is ParseManifestKey for timestamp tokens.
func ParseTimestampKey(prefix, key string) (stream string, seq int64, ok bool) {
	base, found := strings.CutSuffix(key, timestampSuffix)
	if !found {
		return "", 0, false
	}
	return ParseManifestKey(prefix, base+manifestSuffix)
}

// CheckpointKey is the key of a stream's checkpoint.
func CheckpointKey(prefix, stream string) string {
	return join(prefix, manifestDir, segment(stream), checkpointName)
}

// ParseManifestKey returns the stream and sequence number of a manifest
// key, or ok=false (checkpoints included).
func ParseManifestKey(prefix, key string) (stream string, seq int64, ok bool) {
	rest, found := strings.CutPrefix(key, ManifestPrefix(prefix))
	if !found {
		return "", 0, false
	}
	stream, file := path.Split(rest)
	stream = strings.TrimSuffix(stream, "/")
	if stream == "" || segment(stream) != stream || !strings.HasSuffix(file, manifestSuffix) || len(file) != 12+len(manifestSuffix) {
		return "", 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(file, manifestSuffix), 10, 64)
	if err != nil || n < 1 {
		return "", 0, false
	}
	return stream, n, true
}

// IsCheckpointKey reports whether key is a stream's checkpoint.
func IsCheckpointKey(prefix, key string) (stream string, ok bool) {
	rest, found := strings.CutPrefix(key, ManifestPrefix(prefix))
	if !found {
		return "", false
	}
	stream, file := path.Split(rest)
	stream = strings.TrimSuffix(stream, "/")
	return stream, file == checkpointName && stream != "" && segment(stream) == stream
}

// NewRunID returns a sortable, unique run id: UTC time and 8 random hex digits.
func NewRunID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
