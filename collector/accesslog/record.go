package accesslog

import (
	"net/url"
	"time"
)

// Record is one request of a server access log, its fields in the order
// AWS documents them
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/LogFormat.html).
// A field logged as "-" (unknown or not applicable) is "" for a string and
// -1 for a number (0 for HTTPStatus). Fields AWS added over time (from
// VersionID on) are "" in records written before them.
type Record struct {
	BucketOwner string    // canonical user id of the source bucket's owner
	Bucket      string    // the bucket the request was made on
	Time        time.Time // when the request was received, as logged ([02/Jan/2006:15:04:05 -0700])
	RemoteIP    string
	Requester   string // canonical user id or IAM ARN; "" for an anonymous request
	RequestID   string
	Operation   string // REST.GET.OBJECT, BATCH.DELETE.OBJECT, ...
	Key         string // as logged: URL-encoded (see ObjectKey)
	RequestURI  string // the request line, e.g. "GET /bucket/key HTTP/1.1", unquoted
	HTTPStatus  int
	ErrorCode   string
	BytesSent   int64
	ObjectSize  int64
	TotalTime   int64 // milliseconds
	TurnAround  int64 // milliseconds
	Referer     string
	UserAgent   string
	VersionID   string
	HostID      string // x-amz-id-2
	SigVersion  string // SigV2, SigV4
	CipherSuite string
	AuthType    string // AuthHeader, QueryString
	HostHeader  string
	TLSVersion  string
	AccessPoint string // access point ARN
	ACLRequired string // "Yes" when an ACL was required to authorize the request
	// Extra are fields AWS appended after aclRequired, as logged.
	Extra []string
	// Line is the record's line number in its log object, from 1.
	Line int
}

// ObjectKey is the record's key decoded; the key as logged when it does
// not decode.
func (r Record) ObjectKey() string {
	if k, err := url.PathUnescape(r.Key); err == nil {
		return k
	}
	return r.Key
}

// MinFields is how many fields a record must have: through User-Agent,
// the oldest format AWS wrote. Later fields are optional.
const MinFields = 17

// TimeLayout is the layout of a record's time, between its brackets.
const TimeLayout = "02/Jan/2006:15:04:05 -0700"
