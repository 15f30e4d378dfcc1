package custody

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
)

// bucketAPI is what setting up and checking the evidence bucket needs.
// None of these calls can shorten retention or delete anything.
type bucketAPI interface {
	HeadBucket(context.Context, *s3.HeadBucketInput, ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
	CreateBucket(context.Context, *s3.CreateBucketInput, ...func(*s3.Options)) (*s3.CreateBucketOutput, error)
	GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	GetObjectLockConfiguration(context.Context, *s3.GetObjectLockConfigurationInput, ...func(*s3.Options)) (*s3.GetObjectLockConfigurationOutput, error)
	PutObjectLockConfiguration(context.Context, *s3.PutObjectLockConfigurationInput, ...func(*s3.Options)) (*s3.PutObjectLockConfigurationOutput, error)
	GetPublicAccessBlock(context.Context, *s3.GetPublicAccessBlockInput, ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error)
	PutPublicAccessBlock(context.Context, *s3.PutPublicAccessBlockInput, ...func(*s3.Options)) (*s3.PutPublicAccessBlockOutput, error)
}

var _ bucketAPI = (*s3.Client)(nil)

// ErrNoObjectLock means the bucket cannot hold evidence: it lacks
// versioning or Object Lock.
var ErrNoObjectLock = errors.New("bucket does not have versioning and Object Lock enabled")

// InitResult says what InitBucket did.
type InitResult struct {
	Created          bool   `json:"created"`
	RetentionSet     bool   `json:"retentionSet"`               // default retention written (new, or made stricter)
	RetentionKept    string `json:"retentionKept,omitempty"`    // why an existing default was left alone
	PublicAccessNote string `json:"publicAccessNote,omitempty"` // set when the server lacks the public access block API
}

// InitBucket creates the evidence bucket with Object Lock, or adopts an
// existing one that has it, sets its default retention to the configured
// mode and period unless the bucket's own default is already at least as
// strict, and blocks public access. It never weakens retention.
func InitBucket(ctx context.Context, api bucketAPI, st config.Store) (InitResult, error) {
	var res InitResult
	b := aws.String(st.Bucket)
	_, err := api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: b})
	switch {
	case err == nil:
	case httpStatus(err) == http.StatusNotFound:
		in := &s3.CreateBucketInput{Bucket: b, ObjectLockEnabledForBucket: aws.Bool(true)}
		if st.Region != "" && st.Region != "us-east-1" {
			in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(st.Region)}
		}
		if _, err := api.CreateBucket(ctx, in); err != nil {
			return res, fmt.Errorf("create evidence bucket %s: %w", st.Bucket, err)
		}
		res.Created = true
	default:
		return res, fmt.Errorf("evidence bucket %s: %w", st.Bucket, err)
	}

	lock, err := api.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: b})
	if err != nil && !answered(err) {
		return res, fmt.Errorf("evidence bucket %s: %w", st.Bucket, &CheckError{Op: "GetObjectLockConfiguration", Err: err})
	}
	if err != nil || lock.ObjectLockConfiguration == nil || lock.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		return res, fmt.Errorf("evidence bucket %s: %w; create a new bucket with Object Lock (custody store init with a new store.bucket)", st.Bucket, ErrNoObjectLock)
	}
	current := defaultRetention(lock.ObjectLockConfiguration)
	want := Retention{Mode: st.Retention.Mode, Days: st.Retention.Days}
	if current.AtLeast(want) {
		res.RetentionKept = fmt.Sprintf("the bucket's default retention %s is at least as strict as the configured %s", current, want)
	} else if current.Mode != "" && !want.AtLeast(current) {
		return res, fmt.Errorf("evidence bucket %s: default retention %s and configured %s are not comparable (a mode change would weaken one of them); set store.retention to at least %s", st.Bucket, current, want, current)
	} else {
		_, err := api.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{
			Bucket: b,
			ObjectLockConfiguration: &types.ObjectLockConfiguration{
				ObjectLockEnabled: types.ObjectLockEnabledEnabled,
				Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{
					Mode: types.ObjectLockRetentionMode(want.Mode), Days: aws.Int32(int32(want.Days)),
				}},
			},
		})
		if err != nil {
			return res, fmt.Errorf("set default retention on %s: %w", st.Bucket, err)
		}
		res.RetentionSet = true
	}

	// Ask first: a server without the API (MinIO) answers the read with
	// NotImplemented but the write with a misleading MalformedXML.
	if _, err := api.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b}); notImplemented(err) {
		res.PublicAccessNote = "the S3 server does not implement the public access block API; make sure the bucket policy grants no public access"
		return res, nil
	}
	_, err = api.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: b,
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true),
			IgnorePublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true),
		},
	})
	if err != nil {
		return res, fmt.Errorf("block public access on %s: %w", st.Bucket, err)
	}
	return res, nil
}

// RetentionWarning says what the configured retention means when it
// cannot be undone (COMPLIANCE): no one, root included, can delete an
// object or shorten its retention before it ends. It is empty for
// GOVERNANCE, which privileged users can bypass.
func RetentionWarning(st config.Store) string {
	if st.Retention.Mode != config.ModeCompliance {
		return ""
	}
	return fmt.Sprintf("s3://%s will keep every object custody writes under COMPLIANCE retention: for %d days "+
		"after it is written, no one, not even the AWS account's root user, can delete it, overwrite that version "+
		"or shorten its retention; the bucket cannot be deleted while it holds such objects, and you pay for their storage",
		st.Bucket, st.Retention.Days)
}

// CheckError means a check of the bucket could not be made: the request
// failed (access denied, wrong credentials, network), so nothing is known
// about the setting it asked for. It is never a finding about the bucket,
// whose remedy would be wrong.
type CheckError struct {
	Op  string // the S3 operation: "GetBucketVersioning"
	Err error
}

func (e *CheckError) Error() string {
	// The SDK's error starts with the operation ("operation error S3:
	// GetBucketVersioning, ..."), which awsclient.Short cuts to
	// "GetBucketVersioning: <code>: <message>" when it is printed.
	s := "could not check: "
	if awsclient.Operation(e.Err) != e.Op {
		s += e.Op + ": "
	}
	s += e.Err.Error()
	if p := awsclient.Permission(e.Err); p != "" {
		s += " (grant " + p + ")"
	}
	return s
}

func (e *CheckError) Unwrap() error { return e.Err }

// cause is the part of an SDK error that says what S3 answered: its code
// and message, without the request ids.
func cause(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if msg := ae.ErrorMessage(); msg != "" {
			return ae.ErrorCode() + ": " + msg
		}
		return ae.ErrorCode()
	}
	return err.Error()
}

// answered reports whether a failed bucket call was answered by S3 about
// the bucket (a 404: no such bucket or no such configuration), rather than
// failing to ask (403, wrong keys, network).
func answered(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchBucket", "ObjectLockConfigurationNotFoundError", "NoSuchPublicAccessBlockConfiguration":
			return true
		}
	}
	return httpStatus(err) == http.StatusNotFound
}

// CheckBucket checks that the bucket can keep evidence as configured:
// versioning and Object Lock on, a default retention at least as strict as
// configured, public access blocked. It returns every finding. A call that
// fails without an answer about the bucket (access denied, network) stops
// the check with a *CheckError instead: findings from it would be guesses.
func CheckBucket(ctx context.Context, api bucketAPI, st config.Store) (Findings, error) {
	var fs Findings
	b := aws.String(st.Bucket)
	obj := "s3://" + st.Bucket
	ver, err := api.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	switch {
	case err != nil && answered(err):
		fs.Fail(finding.BucketMissing, obj, "create it with custody store init, or correct store.bucket", "the bucket does not exist: %s", cause(err))
		return fs, nil
	case err != nil:
		return nil, &CheckError{Op: "GetBucketVersioning", Err: err}
	case ver.Status != types.BucketVersioningStatusEnabled:
		fs.Fail(finding.BucketVersioning, obj, "use a bucket created with Object Lock (custody store init)", "versioning is %q, not Enabled", ver.Status)
	}
	lock, err := api.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: b})
	switch {
	case err != nil && !answered(err):
		return nil, &CheckError{Op: "GetObjectLockConfiguration", Err: err}
	case err != nil, lock.ObjectLockConfiguration == nil || lock.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled:
		fs.Fail(finding.BucketObjectLock, obj, "use a bucket created with Object Lock (custody store init)", "Object Lock is not enabled")
	default:
		got := defaultRetention(lock.ObjectLockConfiguration)
		want := Retention{Mode: st.Retention.Mode, Days: st.Retention.Days}
		if !got.AtLeast(want) {
			fs.Fail(finding.BucketDefaultRetention, obj, "run custody store init to set the configured default retention", "default retention is %s, configured %s", got, want)
		}
	}
	pab, err := api.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b})
	switch {
	case notImplemented(err):
		fs.Warn(finding.BucketPublicAccess, obj, "check the bucket policy by hand", "the S3 server does not implement the public access block API")
	case err != nil && !answered(err):
		return nil, &CheckError{Op: "GetPublicAccessBlock", Err: err}
	case err != nil:
		fs.Fail(finding.BucketPublicAccess, obj, "run custody store init to block public access", "public access block not configured")
	default:
		c := pab.PublicAccessBlockConfiguration
		if c == nil || !aws.ToBool(c.BlockPublicAcls) || !aws.ToBool(c.BlockPublicPolicy) || !aws.ToBool(c.IgnorePublicAcls) || !aws.ToBool(c.RestrictPublicBuckets) {
			fs.Fail(finding.BucketPublicAccess, obj, "run custody store init to block public access", "public access is not fully blocked")
		}
	}
	return fs, nil
}

// Retention is an Object Lock mode and period. The zero value is "none".
type Retention struct {
	Mode string
	Days int
}

func (r Retention) String() string {
	if r.Mode == "" {
		return "none"
	}
	return fmt.Sprintf("%s %d days", r.Mode, r.Days)
}

// AtLeast reports whether r protects at least as much as o: COMPLIANCE
// is stricter than GOVERNANCE, and a longer period is stricter.
func (r Retention) AtLeast(o Retention) bool {
	if o.Mode == "" {
		return true
	}
	if r.Mode == "" {
		return false
	}
	if r.Mode == config.ModeGovernance && o.Mode == config.ModeCompliance {
		return false
	}
	return r.Days >= o.Days
}

func defaultRetention(c *types.ObjectLockConfiguration) Retention {
	if c == nil || c.Rule == nil || c.Rule.DefaultRetention == nil {
		return Retention{}
	}
	d := c.Rule.DefaultRetention
	days := int(aws.ToInt32(d.Days))
	if y := aws.ToInt32(d.Years); y > 0 {
		days = int(y) * 365
	}
	return Retention{Mode: string(d.Mode), Days: days}
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func notImplemented(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NotImplemented" || ae.ErrorCode() == "XNotImplemented") {
		return true
	}
	return httpStatus(err) == http.StatusNotImplemented
}
