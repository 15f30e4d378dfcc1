package awsclient

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The SDK's paginators ask for the next page as long as a page says it
// is truncated. An endpoint that answers the same page again (or says
// "truncated" with nothing to continue from) would be listed for ever, or
// end silently short. These checks turn both into an error.

// VersionsAdvance checks that a truncated ListObjectVersions page moves
// the listing forward (S3 lists in key order); marker holds the key and
// version id the last page continued from.
func VersionsAdvance(marker *[2]string, page *s3.ListObjectVersionsOutput) error {
	if !aws.ToBool(page.IsTruncated) {
		return nil
	}
	next := [2]string{aws.ToString(page.NextKeyMarker), aws.ToString(page.NextVersionIdMarker)}
	if next[0] == "" || next[0] < marker[0] || next == *marker {
		return fmt.Errorf("S3 says the listing is truncated, but its next marker (key %q, version %q) does not move past the last one (key %q, version %q): the endpoint is misbehaving; retry", next[0], next[1], marker[0], marker[1])
	}
	*marker = next
	return nil
}

// ObjectsAdvance checks that a truncated ListObjectsV2 page gives a new
// continuation token; last holds the token the last page gave.
func ObjectsAdvance(last *string, page *s3.ListObjectsV2Output) error {
	if !aws.ToBool(page.IsTruncated) {
		return nil
	}
	next := aws.ToString(page.NextContinuationToken)
	if next == "" || next == *last {
		return fmt.Errorf("S3 says the listing is truncated, but gives no new continuation token (%q after %q): the endpoint is misbehaving; retry", next, *last)
	}
	*last = next
	return nil
}
