package custody

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/custody-ir/custody/internal/awsclient"
)

// ObjectVersion is one version or delete marker in the evidence store.
type ObjectVersion struct {
	Key          string    `json:"key"`
	VersionID    string    `json:"versionId"`
	IsLatest     bool      `json:"isLatest"`
	DeleteMarker bool      `json:"deleteMarker,omitempty"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"lastModified"`
}

// ObjectMeta is what the store says about a version besides its bytes.
type ObjectMeta struct {
	LockMode       string    `json:"lockMode,omitempty"`
	RetainUntil    time.Time `json:"retainUntil,omitzero"`
	LegalHold      bool      `json:"legalHold,omitempty"`
	ChecksumSHA256 string    `json:"checksumSha256,omitempty"` // as S3 reports it (base64, "-N" for multipart)
	Size           int64     `json:"size"`
}

// evidenceSource is where verify reads evidence from: the bucket, or an
// exported package. Open returns ErrVersionMissing for a version that is
// not there.
type evidenceSource interface {
	// Versions calls fn for every version and delete marker under prefix,
	// in key order.
	Versions(ctx context.Context, prefix string, fn func(ObjectVersion) error) error
	// Open returns one version's bytes and metadata; the caller closes it.
	Open(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, error)
	// Offline sources have no Object Lock metadata to check.
	Offline() bool
}

// ErrVersionMissing means an object version does not exist.
var ErrVersionMissing = fmt.Errorf("object version does not exist")

// s3Source reads the evidence bucket.
type s3Source struct {
	api    objectReader
	bucket string
	// clock keeps S3's time as its last listing answer gave it (the
	// Date header): the "now" a stream's freshness is judged by.
	clock *serverClock
}

// serverClock is S3's time, as last seen.
type serverClock struct {
	mu sync.Mutex
	t  time.Time
}

// ServerTime is S3's time at its last listing answer (zero before one).
func (s s3Source) ServerTime() time.Time {
	if s.clock == nil {
		return time.Time{}
	}
	s.clock.mu.Lock()
	defer s.clock.mu.Unlock()
	return s.clock.t
}

func (s s3Source) Offline() bool { return false }

func (s s3Source) Versions(ctx context.Context, prefix string, fn func(ObjectVersion) error) error {
	return s.list(ctx, prefix, "", fn, nil)
}

// Folders lists what is directly under prefix: the versions and delete
// markers of its keys without a further "/", in key order, and the
// folders below it (each a prefix ending in "/"). Listing every folder
// with Versions and adding the versions given here lists all of prefix.
func (s s3Source) Folders(ctx context.Context, prefix string) ([]ObjectVersion, []string, error) {
	var vs []ObjectVersion
	var dirs []string
	err := s.list(ctx, prefix, "/", func(ov ObjectVersion) error {
		vs = append(vs, ov)
		return nil
	}, func(dir string) { dirs = append(dirs, dir) })
	return vs, dirs, err
}

// list is Versions, with delimiter (if not empty) grouping the keys
// under prefix that contain it after prefix into folders, each passed to
// dir.
func (s s3Source) list(ctx context.Context, prefix, delimiter string, fn func(ObjectVersion) error, dir func(string)) error {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)}
	if delimiter != "" {
		in.Delimiter = aws.String(delimiter)
	}
	p := s3.NewListObjectVersionsPaginator(s.api, in)
	var marker [2]string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.bucket, prefix, err)
		}
		if err := awsclient.VersionsAdvance(&marker, page); err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.bucket, prefix, err)
		}
		if t, ok := awsmiddleware.GetServerTime(page.ResultMetadata); ok && s.clock != nil {
			s.clock.mu.Lock()
			s.clock.t = t
			s.clock.mu.Unlock()
		}
		// A page lists versions and markers separately; merge them back
		// into key order so fn sees each key's history together.
		vs := make([]ObjectVersion, 0, len(page.Versions)+len(page.DeleteMarkers))
		for _, v := range page.Versions {
			vs = append(vs, ObjectVersion{Key: aws.ToString(v.Key), VersionID: aws.ToString(v.VersionId), IsLatest: aws.ToBool(v.IsLatest),
				Size: aws.ToInt64(v.Size), LastModified: aws.ToTime(v.LastModified)})
		}
		for _, m := range page.DeleteMarkers {
			vs = append(vs, ObjectVersion{Key: aws.ToString(m.Key), VersionID: aws.ToString(m.VersionId), IsLatest: aws.ToBool(m.IsLatest),
				DeleteMarker: true, LastModified: aws.ToTime(m.LastModified)})
		}
		sortVersions(vs)
		for _, v := range vs {
			if err := fn(v); err != nil {
				return err
			}
		}
		for _, cp := range page.CommonPrefixes {
			if dir != nil {
				dir(aws.ToString(cp.Prefix))
			}
		}
	}
	return nil
}

func sortVersions(vs []ObjectVersion) {
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].Key != vs[j].Key {
			return vs[i].Key < vs[j].Key
		}
		return vs[i].LastModified.After(vs[j].LastModified)
	})
}

func (s s3Source) Open(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, error) {
	return s.open(ctx, s.api, key, versionID)
}

// OpenSelfChecked is Open for a caller that hashes every byte it reads
// with SHA-256 and compares the sum with S3's (ObjectMeta.ChecksumSHA256,
// see checkTransfer) itself: the SDK's own check of the response against
// that checksum is left out, so that each byte is hashed once. Verify
// reads every manifest and artifact this way.
func (s s3Source) OpenSelfChecked(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, error) {
	return s.open(ctx, selfCheckedGetter{s.api}, key, versionID)
}

func (s s3Source) open(ctx context.Context, api awsclient.ObjectGetter, key, versionID string) (io.ReadCloser, ObjectMeta, error) {
	out, err := awsclient.GetObject(ctx, api, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), VersionId: aws.String(versionID), ChecksumMode: types.ChecksumModeEnabled})
	if st := httpStatus(err); st == http.StatusNotFound || st == http.StatusMethodNotAllowed {
		return nil, ObjectMeta{}, ErrVersionMissing
	}
	if err != nil {
		return nil, ObjectMeta{}, err
	}
	return out.Body, ObjectMeta{
		LockMode: string(out.ObjectLockMode), RetainUntil: aws.ToTime(out.ObjectLockRetainUntilDate),
		LegalHold: out.ObjectLockLegalHoldStatus == types.ObjectLockLegalHoldStatusOn, ChecksumSHA256: aws.ToString(out.ChecksumSHA256),
		Size: aws.ToInt64(out.ContentLength),
	}, nil
}

// selfCheckedGetter gets objects without the SDK's response checksum
// validation (a resumed read's requests too).
type selfCheckedGetter struct{ api awsclient.ObjectGetter }

// sdkResponseValidation is the SDK's middleware that hashes a response
// body to compare it with the checksum S3 sent.
const sdkResponseValidation = "AWSChecksum:ValidateOutputPayloadChecksum"

func (g selfCheckedGetter) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return g.api.GetObject(ctx, in, append(opts, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			// Not there (another SDK version): the SDK checks as well,
			// which costs time, not safety.
			_, _ = st.Deserialize.Remove(sdkResponseValidation)
			return nil
		})
	})...)
}

// selfChecked is implemented by sources that can leave the check of what
// is read against S3's checksum to the caller.
type selfChecked interface {
	OpenSelfChecked(ctx context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, error)
}

// openSelfChecked opens a version whose every byte the caller hashes and
// passes to checkTransfer; sources without the SDK's check open as usual.
func openSelfChecked(ctx context.Context, src evidenceSource, key, versionID string) (io.ReadCloser, ObjectMeta, error) {
	if s, ok := src.(selfChecked); ok {
		return s.OpenSelfChecked(ctx, key, versionID)
	}
	return src.Open(ctx, key, versionID)
}

// errTransfer means the bytes read of a version do not hash to the
// checksum S3 holds for it: damaged on the way, or in storage.
var errTransfer = errors.New("the bytes read do not match S3's SHA-256 checksum of this version")

// checkTransfer compares the SHA-256 of the bytes read of a version with
// the whole-object checksum S3 returned with them, as the SDK would have:
// nil when they agree or S3 sent none (or a checksum of parts, "…-N",
// which the SDK does not check either).
func checkTransfer(meta ObjectMeta, sum []byte) error {
	c := meta.ChecksumSHA256
	if c == "" || strings.Contains(c, "-") || c == base64.StdEncoding.EncodeToString(sum) {
		return nil
	}
	return fmt.Errorf("%w (S3 has %s, read %s)", errTransfer, c, base64.StdEncoding.EncodeToString(sum))
}
