package cloudtrail

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/custody-ir/custody/custody/finding"
)

// Artifact kinds the CloudTrail collector stores.
const (
	KindDigest     = "cloudtrail-digest"
	KindLog        = "cloudtrail-log"
	KindPublicKeys = "cloudtrail-public-keys"
	// KindTrailStatus is the trail-status snapshot (DescribeTrails,
	// GetTrailStatus, GetEventSelectors) every CloudTrail run seals.
	KindTrailStatus = "cloudtrail-trail-status"
)

// Artifact is a preserved copy as a manifest sealed it: its key and version
// in the evidence store, and the collector's annotations (artifact kind,
// original source, S3 metadata).
type Artifact struct {
	Name, VersionID string
	Kind, Source    string
	Metadata        map[string]string
}

// Opener opens a sealed artifact by its key and version in the evidence
// store.
type Opener func(ctx context.Context, key, versionID string) (io.ReadCloser, error)

type preserved struct {
	key, version string
	meta         map[string]string
}

// CheckPreserved re-validates the preserved CloudTrail evidence: the
// digests, log files and key lists among the sealed artifacts, with the
// keys preserved beside them, so no AWS call is needed years later. Its
// findings are the validation kinds under finding.CloudTrail.
func CheckPreserved(ctx context.Context, open Opener, artifacts []Artifact) finding.Findings {
	var fs finding.Findings
	files := map[string]preserved{} // original "bucket/key" -> evidence
	var keyLists []preserved
	type trailID struct{ bucket, prefix, org, account, region, trail string }
	trails := map[trailID][2]time.Time{}
	for _, a := range artifacts {
		switch a.Kind {
		case KindPublicKeys:
			keyLists = append(keyLists, preserved{a.Name, a.VersionID, a.Metadata})
		case KindDigest, KindLog:
			bucket, key, ok := strings.Cut(strings.TrimPrefix(a.Source, "s3://"), "/")
			if !ok {
				continue
			}
			files[bucket+"/"+key] = preserved{a.Name, a.VersionID, a.Metadata}
			if a.Kind != KindDigest {
				continue
			}
			k, ok := ParseDigestKey(key)
			if !ok {
				continue
			}
			id := trailID{bucket, k.Prefix, k.OrgID, k.Account, k.Region, k.Trail}
			w, seen := trails[id]
			if !seen || k.Time.Before(w[0]) {
				w[0] = k.Time
			}
			if k.Time.After(w[1]) {
				w[1] = k.Time
			}
			trails[id] = w
		}
	}
	if len(trails) == 0 {
		return nil
	}
	var keys []PublicKey
	for _, kl := range keyLists {
		rc, err := open(ctx, kl.key, kl.version)
		if err != nil {
			fs = append(fs, finding.Finding{Severity: finding.Failure, Kind: finding.CloudTrailKeysUnreadable, Object: kl.key, Message: err.Error()})
			continue
		}
		b, err := io.ReadAll(io.LimitReader(rc, maxPublicKeysJSON+1))
		rc.Close()
		if err == nil {
			var ks []PublicKey
			if ks, err = ParsePublicKeys(b); err == nil {
				keys = append(keys, ks...)
			}
		}
		if err != nil {
			fs = append(fs, finding.Finding{Severity: finding.Failure, Kind: finding.CloudTrailKeysMalformed, Object: kl.key, Message: err.Error()})
		}
	}
	ids := make([]trailID, 0, len(trails))
	for id := range trails {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return fmt.Sprint(ids[i]) < fmt.Sprint(ids[j]) })
	for _, id := range ids {
		w := trails[id]
		src := preservedSource{open: open, bucket: id.bucket, files: files}
		res, err := Validate(ctx, src, Options{Bucket: id.bucket, Prefix: id.prefix, OrgID: id.org, Account: id.account, Region: id.region, Trail: id.trail,
			Start: w[0].Add(-time.Hour), End: w[1], Keys: keys, Now: func() time.Time { return w[1] }})
		if err != nil {
			fs = append(fs, finding.Finding{Severity: finding.Failure, Kind: finding.CloudTrailUnverifiable, Object: "s3://" + id.bucket, Message: err.Error()})
			continue
		}
		for _, f := range res.Findings {
			f.Kind = finding.CloudTrail(f.Kind)
			f.Message = "preserved copy: " + f.Message
			fs = append(fs, f)
		}
	}
	return fs
}

// preservedSource serves preserved copies under their original keys.
type preservedSource struct {
	open   Opener
	bucket string
	files  map[string]preserved
}

func (p preservedSource) List(_ context.Context, prefix string, fn func(string) error) error {
	var keys []string
	for k := range p.files {
		if b, key, _ := strings.Cut(k, "/"); b == p.bucket && strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

func (p preservedSource) Get(ctx context.Context, key string) (io.ReadCloser, map[string]string, error) {
	f, ok := p.files[p.bucket+"/"+key]
	if !ok {
		return nil, nil, ErrNotFound
	}
	rc, err := p.open(ctx, f.key, f.version)
	if err != nil {
		return nil, nil, err
	}
	return rc, f.meta, nil
}
