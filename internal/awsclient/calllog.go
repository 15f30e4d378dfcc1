package awsclient

// The call log: with CUSTODY_AWS_CALL_LOG=<file> set, every AWS call made
// through a Config from Load appends one JSON line to the file, naming the
// call and the IAM permissions AWS authorizes it with. custody/iam_calls_test.go
// runs the binaries with it to check that each shipped policy in
// configs/iam grants exactly what the code calls.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// CallLogEnv names the file the call log is appended to; unset, no log.
const CallLogEnv = "CUSTODY_AWS_CALL_LOG"

// Call is one line of the call log: one operation, as the SDK names it,
// and what IAM must allow for it.
type Call struct {
	Service   string `json:"service"`   // the SDK's service id: "S3", "Config Service"
	Operation string `json:"operation"` // "GetObject"
	Needs     []Need `json:"needs"`
}

// Need is one permission a call needs: an IAM action on a resource ARN
// ("*" for actions that name no resource).
type Need struct {
	Action   string `json:"action"`
	Resource string `json:"resource"`
}

// addCallLog makes every client of cfg log its calls when CallLogEnv is
// set. The file is opened once here, so a path that cannot be written is
// an error of Load, not of the first call.
func addCallLog(cfg *aws.Config) error {
	path := os.Getenv(CallLogEnv)
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("%s: %w", CallLogEnv, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: %w", CallLogEnv, err)
	}
	cfg.APIOptions = append(cfg.APIOptions, func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("custody/CallLog",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
				if err := appendCall(path, Call{Service: service, Operation: op, Needs: Needs(service, op, in.Parameters)}); err != nil {
					return middleware.InitializeOutput{}, middleware.Metadata{}, fmt.Errorf("%s: %w", CallLogEnv, err)
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After) // after the service's metadata, which older clients set in this step
	})
	return nil
}

// appendCall writes c as one line with a single O_APPEND write: lines from
// several goroutines or processes never interleave.
func appendCall(path string, c Call) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return errors.Join(err, f.Close())
}

// ReadCallLog reads every call a call log holds.
func ReadCallLog(r io.Reader) ([]Call, error) {
	var out []Call
	dec := json.NewDecoder(r)
	for {
		var c Call
		err := dec.Decode(&c)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("call log: %w", err)
		}
		out = append(out, c)
	}
}

// Needs returns the permissions an operation needs, given its input (the
// SDK's *s3.GetObjectInput and the like): the IAM action Action names, on
// the bucket or object it is about, refined as S3 authorizes what the
// request carries. Naming a version needs the version's action
// (s3:GetObjectVersion); a write with Object Lock retention or a legal
// hold also needs s3:PutObjectRetention or s3:PutObjectLegalHold, and
// with tags s3:PutObjectTagging; a copy reads its source (the version's
// action for a version) and, copying tags (the default), its source's
// tags; bypassing governance retention needs s3:BypassGovernanceRetention.
// An operation Action does not know gives its own name as the action,
// which no policy grants.
func Needs(service, operation string, input any) []Need {
	action := Action(service, operation)
	if action == "" {
		action = "unknown:" + service + "/" + operation
	}
	in := reflect.Indirect(reflect.ValueOf(input))
	field := func(name string) reflect.Value {
		if in.Kind() != reflect.Struct {
			return reflect.Value{}
		}
		return reflect.Indirect(in.FieldByName(name))
	}
	has := func(name string) bool { // set: a non-nil pointer, a non-empty string
		if in.Kind() != reflect.Struct {
			return false
		}
		v := in.FieldByName(name)
		return v.IsValid() && !v.IsZero()
	}
	str := func(name string) string {
		if v := field(name); v.IsValid() && v.Kind() == reflect.String {
			return v.String()
		}
		return ""
	}
	switch service {
	case "S3":
	case "STS":
		if role := str("RoleArn"); role != "" {
			return []Need{{Action: action, Resource: role}}
		}
		return []Need{{Action: action, Resource: "*"}}
	default:
		return []Need{{Action: action, Resource: "*"}}
	}

	bucket, key, version := str("Bucket"), str("Key"), str("VersionId")
	resource := "*"
	switch {
	case bucket != "" && key != "":
		resource = "arn:aws:s3:::" + bucket + "/" + key
	case bucket != "":
		resource = "arn:aws:s3:::" + bucket
	}
	if v, ok := versionActions[operation]; ok && version != "" {
		action = v
	}
	needs := []Need{{Action: action, Resource: resource}}
	add := func(action, resource string) { needs = append(needs, Need{Action: action, Resource: resource}) }
	switch operation {
	case "PutObject", "CreateMultipartUpload", "CopyObject":
		if has("ObjectLockMode") || has("ObjectLockRetainUntilDate") {
			add("s3:PutObjectRetention", resource)
		}
		if has("ObjectLockLegalHoldStatus") {
			add("s3:PutObjectLegalHold", resource)
		}
		if has("Tagging") {
			add("s3:PutObjectTagging", resource)
		}
	}
	if v := field("BypassGovernanceRetention"); v.IsValid() && v.Kind() == reflect.Bool && v.Bool() {
		add("s3:BypassGovernanceRetention", resource)
	}
	if src := str("CopySource"); src != "" {
		srcBucket, srcKey, srcVersion := parseCopySource(src)
		srcARN := "arn:aws:s3:::" + srcBucket + "/" + srcKey
		read, readTags := "s3:GetObject", "s3:GetObjectTagging"
		if srcVersion != "" {
			read, readTags = "s3:GetObjectVersion", "s3:GetObjectVersionTagging"
		}
		add(read, srcARN)
		// CopyObject copies the source's tags unless told to replace them
		// (UploadPartCopy copies bytes alone): reading them, writing them.
		if operation == "CopyObject" && !strings.EqualFold(str("TaggingDirective"), "REPLACE") {
			add(readTags, srcARN)
			add("s3:PutObjectTagging", resource)
		}
	}
	return needs
}

// parseCopySource splits an x-amz-copy-source value, "bucket/key" with the
// key URL-encoded and an optional "?versionId=".
func parseCopySource(src string) (bucket, key, version string) {
	src = strings.TrimPrefix(src, "/")
	if i := strings.Index(src, "?"); i >= 0 {
		if q, err := url.ParseQuery(src[i+1:]); err == nil {
			version = q.Get("versionId")
		}
		src = src[:i]
	}
	bucket, key, _ = strings.Cut(src, "/")
	if k, err := url.PathUnescape(key); err == nil {
		key = k
	}
	return bucket, key, version
}
