package awsclient

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestListingsMustAdvance(t *testing.T) {
	var marker [2]string
	page := func(key, version string) *s3.ListObjectVersionsOutput {
		return &s3.ListObjectVersionsOutput{IsTruncated: aws.Bool(true), NextKeyMarker: aws.String(key), NextVersionIdMarker: aws.String(version)}
	}
	for _, p := range []*s3.ListObjectVersionsOutput{page("a", "1"), page("a", "2"), page("b", "1"), {IsTruncated: aws.Bool(false)}} {
		if err := VersionsAdvance(&marker, p); err != nil {
			t.Fatalf("a listing moving forward: %v", err)
		}
	}
	for _, p := range []*s3.ListObjectVersionsOutput{page("b", "1"), page("a", "9"), page("", "")} {
		if err := VersionsAdvance(&marker, p); err == nil {
			t.Errorf("marker %q/%q after %q: no error", aws.ToString(p.NextKeyMarker), aws.ToString(p.NextVersionIdMarker), marker)
		}
	}

	token := ""
	objects := func(next string) *s3.ListObjectsV2Output {
		return &s3.ListObjectsV2Output{IsTruncated: aws.Bool(true), NextContinuationToken: aws.String(next)}
	}
	if err := ObjectsAdvance(&token, objects("t1")); err != nil || token != "t1" {
		t.Fatalf("a new token: %v (token %q)", err, token)
	}
	for _, next := range []string{"t1", ""} {
		if err := ObjectsAdvance(&token, objects(next)); err == nil {
			t.Errorf("token %q after %q: no error", next, token)
		}
	}
}
