package search

import (
	"bytes"
	"errors"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/custody-ir/custody/collector/accesslog"
)

// operations name the S3 server access log's operations as the API calls
// (and CloudTrail's event names) they are, so that one --event filter
// selects both logs' records.
var operations = map[string]string{
	"REST.GET.OBJECT": "GetObject", "REST.HEAD.OBJECT": "HeadObject", "REST.PUT.OBJECT": "PutObject",
	"REST.DELETE.OBJECT": "DeleteObject", "BATCH.DELETE.OBJECT": "DeleteObject", "REST.POST.MULTI_OBJECT_DELETE": "DeleteObjects",
	"REST.COPY.OBJECT": "CopyObject", "REST.COPY.OBJECT_GET": "GetObject", "REST.POST.UPLOADS": "CreateMultipartUpload",
	"REST.PUT.PART": "UploadPart", "REST.COPY.PART": "UploadPartCopy", "REST.POST.UPLOAD": "CompleteMultipartUpload",
	"REST.DELETE.UPLOAD": "AbortMultipartUpload", "REST.POST.RESTORE": "RestoreObject",
	"REST.GET.BUCKET": "ListObjects", "REST.GET.BUCKETVERSIONS": "ListObjectVersions", "REST.HEAD.BUCKET": "HeadBucket",
	"REST.GET.ACL": "GetObjectAcl", "REST.PUT.ACL": "PutObjectAcl",
	"REST.GET.BUCKETPOLICY": "GetBucketPolicy", "REST.PUT.BUCKETPOLICY": "PutBucketPolicy", "REST.DELETE.BUCKETPOLICY": "DeleteBucketPolicy",
	"REST.PUT.PUBLICACCESSBLOCK": "PutPublicAccessBlock", "REST.DELETE.PUBLICACCESSBLOCK": "DeletePublicAccessBlock",
	"REST.PUT.LIFECYCLE": "PutBucketLifecycleConfiguration", "REST.DELETE.LIFECYCLE": "DeleteBucketLifecycle",
	"REST.PUT.REPLICATION": "PutBucketReplication", "REST.DELETE.REPLICATION": "DeleteBucketReplication",
	"REST.PUT.VERSIONING": "PutBucketVersioning", "REST.PUT.LOGGING_STATUS": "PutBucketLogging",
	"REST.PUT.ENCRYPTION": "PutBucketEncryption", "REST.DELETE.ENCRYPTION": "DeleteBucketEncryption",
	"REST.PUT.OBJECT_LOCK_CONFIGURATION": "PutObjectLockConfiguration", "REST.PUT.BUCKETTAGGING": "PutBucketTagging",
	"REST.PUT.OWNERSHIP_CONTROLS": "PutBucketOwnershipControls", "REST.PUT.OBJECT_TAGGING": "PutObjectTagging",
}

// readAccessLog calls fn with each record of one S3 server access log
// file. A line that is not a record is counted in malformed and skipped:
// the file was sealed as delivered.
func readAccessLog(b []byte, fn func(*Record) error) (malformed int, err error) {
	return decodeAccessLog(bytes.NewReader(b), fn)
}

// decodeAccessLog is readAccessLog over a stream.
func decodeAccessLog(in io.Reader, fn func(*Record) error) (malformed int, err error) {
	r := accesslog.NewReader(in)
	for {
		rec, err := r.Next()
		var le *accesslog.LineError
		switch {
		case errors.Is(err, io.EOF):
			return malformed, nil
		case errors.As(err, &le):
			malformed++
			continue
		case err != nil:
			return malformed, err
		}
		if err := fn(accessRecord(rec)); err != nil {
			return malformed, err
		}
	}
}

// accessRecord normalizes an access-log record.
func accessRecord(a accesslog.Record) *Record {
	r := &Record{Time: a.Time.UTC(), Source: SourceAccessLog, Principal: a.Requester, Action: a.Operation, Service: "s3", Bucket: a.Bucket,
		Key: a.ObjectKey(), VersionID: a.VersionID, SourceIP: a.RemoteIP, UserAgent: a.UserAgent, RequestID: a.RequestID, Category: "data"}
	if a.Key == "" {
		r.Key = ""
	}
	if op, ok := operations[a.Operation]; ok {
		r.Action = op
	}
	if r.Principal == "" {
		r.Principal = "anonymous"
	}
	r.Status = strconv.Itoa(a.HTTPStatus)
	if a.ErrorCode != "" {
		r.Status += " " + a.ErrorCode
	}
	r.Error = a.HTTPStatus >= 400
	r.names = principalNames(a.Requester)
	return r
}

// accessLogName is the end of an access log object's key, in both key
// formats: its delivery time, then a unique string.
var accessLogName = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})-[A-Za-z0-9]+$`)

func accessLogTime(k string) (time.Time, bool) {
	m := accessLogName.FindStringSubmatch(path.Base(k))
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02-15-04-05", m[1])
	return t.UTC(), err == nil
}

// principalNames are the other names of an ARN a --principal filter
// matches, as CloudTrail's userIdentity gives them: a user's name; an
// assumed role's session name, role name and role ARN.
func principalNames(arn string) []string {
	if _, rest, ok := strings.Cut(arn, ":user/"); ok {
		return []string{rest[strings.LastIndex(rest, "/")+1:]}
	}
	prefix, rest, ok := strings.Cut(arn, ":assumed-role/")
	if !ok {
		return nil
	}
	role, session, _ := strings.Cut(rest, "/")
	iam := strings.Replace(prefix, ":sts:", ":iam:", 1)
	return []string{session, role, iam + ":role/" + role}
}
