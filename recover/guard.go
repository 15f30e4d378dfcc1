package recovery

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/custody"
)

// ErrEvidenceBucket is returned for a bucket that holds a custody evidence
// store: recover never changes one, whatever the flags.
var ErrEvidenceBucket = errors.New("recover never changes a custody evidence store")

// EvidenceBucketError says why a bucket is taken for an evidence store.
type EvidenceBucketError struct {
	Bucket string
	Why    string
}

func (e *EvidenceBucketError) Error() string {
	return fmt.Sprintf("s3://%s holds custody evidence (%s): %v; no flag overrides this", e.Bucket, e.Why, ErrEvidenceBucket)
}

func (e *EvidenceBucketError) Unwrap() error { return ErrEvidenceBucket }

// guardAPI is what the evidence guard reads: listings and the bucket's
// Object Lock configuration. It never writes.
type guardAPI interface {
	lister
	GetObjectLockConfiguration(context.Context, *s3.GetObjectLockConfigurationInput, ...func(*s3.Options)) (*s3.GetObjectLockConfigurationOutput, error)
}

var _ guardAPI = (*s3.Client)(nil)

// Guard refuses buckets recover must not change: those named in the custody
// configuration, and any that holds a custody store by its keys.
type Guard struct {
	API guardAPI
	// Protected maps bucket names to where they are named
	// ("store.bucket in custody.yaml").
	Protected map[string]string
	// Budget caps the listing calls of one check (64 when zero).
	Budget int
}

// Check returns an *EvidenceBucketError if bucket holds custody evidence.
// It looks for custody's manifest folder (<prefix>/manifests/<stream>/...)
// at the root and up to two folders down, delete markers included; in a
// bucket with Object Lock it also looks for custody's artifact layout in
// the first pages of the listing. Planning checks every key it lists as
// well (MakePlan), so a store deeper down is still refused before anything
// changes.
func (g Guard) Check(ctx context.Context, bucket string) error {
	if where, ok := g.Protected[bucket]; ok {
		return &EvidenceBucketError{Bucket: bucket, Why: "it is " + where}
	}
	budget := g.Budget
	if budget <= 0 {
		budget = 64
	}
	if key, err := g.findManifests(ctx, bucket, &budget); err != nil || key != "" {
		if err != nil {
			return err
		}
		return &EvidenceBucketError{Bucket: bucket, Why: "it has custody manifests, such as " + key}
	}
	lock, err := g.API.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil || lock.ObjectLockConfiguration == nil || lock.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		// No Object Lock, or not allowed to read it
		// (s3:GetBucketObjectLockConfiguration): the manifest probe above
		// and the check of every planned key still apply.
		return nil
	}
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)}
	p := s3.NewListObjectVersionsPaginator(g.API, in)
	for pages := 0; p.HasMorePages() && pages < 10; pages++ {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list versions of s3://%s: %w", bucket, err)
		}
		for _, e := range pageEntries(page) {
			if IsCustodyKey(e.key) || isCustodyLayout(e.key) {
				return &EvidenceBucketError{Bucket: bucket, Why: "Object Lock is on and its keys follow custody's layout, such as " + e.key}
			}
		}
	}
	return nil
}

// findManifests walks the folders of bucket (by delimiter) down to depth
// 2 for a manifests/ folder holding custody manifests or checkpoints,
// within budget listing calls. It returns the first such key.
func (g Guard) findManifests(ctx context.Context, bucket string, budget *int) (string, error) {
	type folder struct {
		prefix string
		depth  int
	}
	queue := []folder{{"", 0}}
	for len(queue) > 0 && *budget > 0 {
		f := queue[0]
		queue = queue[1:]
		p := s3.NewListObjectVersionsPaginator(g.API, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(f.prefix), Delimiter: aws.String("/")})
		for p.HasMorePages() && *budget > 0 {
			*budget--
			out, err := p.NextPage(ctx)
			if err != nil {
				return "", fmt.Errorf("list versions of s3://%s/%s: %w", bucket, f.prefix, err)
			}
			for _, e := range pageEntries(out) {
				if IsCustodyKey(e.key) {
					return e.key, nil
				}
			}
			for _, cp := range out.CommonPrefixes {
				sub := aws.ToString(cp.Prefix)
				if strings.HasSuffix(sub, "/manifests/") || sub == "manifests/" {
					if key, err := g.firstManifest(ctx, bucket, sub, budget); err != nil || key != "" {
						return key, err
					}
				}
				if f.depth < 2 {
					queue = append(queue, folder{sub, f.depth + 1})
				}
			}
		}
	}
	return "", nil
}

// firstManifest looks in the first page of a manifests/ folder for a
// custody manifest, timestamp or checkpoint.
func (g Guard) firstManifest(ctx context.Context, bucket, prefix string, budget *int) (string, error) {
	if *budget <= 0 {
		return "", nil
	}
	*budget--
	m, err := g.API.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(100)})
	if err != nil {
		return "", fmt.Errorf("list versions of s3://%s/%s: %w", bucket, prefix, err)
	}
	for _, e := range pageEntries(m) {
		if IsCustodyKey(e.key) {
			return e.key, nil
		}
	}
	return "", nil
}

// IsCustodyKey reports whether key is a custody manifest, timestamp or
// checkpoint under some store prefix (custody/layout.go):
// <prefix>/manifests/<stream>/<seq>.dsse.json, .tsr or checkpoint.dsse.json.
func IsCustodyKey(key string) bool {
	for i := 0; ; {
		j := strings.Index(key[i:], "manifests/")
		if j < 0 {
			return false
		}
		at := i + j
		if at == 0 || key[at-1] == '/' {
			prefix := strings.TrimSuffix(key[:at], "/")
			if _, _, ok := custody.ParseManifestKey(prefix, key); ok {
				return true
			}
			if _, _, ok := custody.ParseTimestampKey(prefix, key); ok {
				return true
			}
			if _, ok := custody.IsCheckpointKey(prefix, key); ok {
				return true
			}
		}
		i = at + 1
	}
}

// runFolder is the date and run id folders every custody artifact, case
// file and event record sits under: yyyy/mm/dd/<run id>/ (custody.NewRunID).
var runFolder = regexp.MustCompile(`(^|/)\d{4}/\d{2}/\d{2}/\d{8}T\d{6}Z-[0-9a-f]{8}/[^/]`)

// isCustodyLayout reports whether key looks like a custody artifact.
func isCustodyLayout(key string) bool { return runFolder.MatchString(key) }

// ErrTargetBeforeOldest is returned for a target before every version in
// the bucket (under the prefix): no key existed then.
var ErrTargetBeforeOldest = errors.New("the target is before the oldest version")

// CheckTarget refuses a plan whose target is before the oldest version in
// the bucket, unless force: every key would be new, so --remove-new would
// hide all of them and nothing would be restored. A plan that restores
// keys from the replica or the preserved list is not refused.
func CheckTarget(p *Plan, force bool) error {
	if force || p.Keys == 0 || p.Oldest.IsZero() || !p.Target.Before(p.Oldest) {
		return nil
	}
	for _, a := range p.Actions {
		if a.Kind != ReportNew && a.Kind != HideNew {
			return nil
		}
	}
	where := "s3://" + p.Bucket + "/" + p.Prefix
	return fmt.Errorf("%w: %s is before the oldest version in %s (%s), so no key existed then: nothing would be restored, and with --remove-new all %d key(s) there now would be hidden behind delete markers; check --since, or pass --force if that is what you mean",
		ErrTargetBeforeOldest, p.Target.Format(time.RFC3339Nano), where, p.Oldest.Format(time.RFC3339Nano), len(p.Actions))
}
