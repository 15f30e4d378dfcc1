package custody

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

func storeConfig(bucket string) config.Store {
	return config.Store{Bucket: bucket, Region: "us-east-1", Prefix: "custody", Retention: config.Retention{Mode: config.ModeCompliance, Days: 1}}
}

func TestInitBucketCreatesLockedBucket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := testaws.Require(t).S3(t)
	st := storeConfig(testaws.BucketName(t))

	res, err := InitBucket(ctx, c, st)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || !res.RetentionSet {
		t.Fatalf("InitBucket = %+v, want created with retention", res)
	}
	fs, err := CheckBucket(ctx, c, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Severity == SeverityFailure {
			t.Errorf("fresh bucket: %v", f)
		}
	}
	// Idempotent: a second init changes nothing.
	res, err = InitBucket(ctx, c, st)
	if err != nil || res.Created || res.RetentionSet {
		t.Fatalf("second InitBucket = %+v, %v", res, err)
	}
	// A weaker configured retention never weakens the bucket's default.
	weaker := st
	weaker.Retention = config.Retention{Mode: config.ModeGovernance, Days: 1}
	res, err = InitBucket(ctx, c, weaker)
	if err != nil || res.RetentionSet || res.RetentionKept == "" {
		t.Fatalf("InitBucket with a weaker retention = %+v, %v", res, err)
	}
	lock, err := c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(st.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if got := defaultRetention(lock.ObjectLockConfiguration); got.Mode != config.ModeCompliance || got.Days != 1 {
		t.Fatalf("default retention after weaker init = %v", got)
	}
	// A stricter one is applied.
	stricter := st
	stricter.Retention.Days = 3
	if res, err = InitBucket(ctx, c, stricter); err != nil || !res.RetentionSet {
		t.Fatalf("InitBucket with a longer retention = %+v, %v", res, err)
	}
	// And the old config now falls short of nothing, the new one checks clean.
	fs, err = CheckBucket(ctx, c, stricter)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.Severity == SeverityFailure {
			t.Errorf("after extending: %v", f)
		}
	}
}

func TestInitBucketRefusesBucketWithoutObjectLock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := testaws.Require(t).S3(t)
	plain := testaws.CreateBucket(t, c, testaws.BucketOptions{Versioning: true})
	_, err := InitBucket(ctx, c, storeConfig(plain))
	if !errors.Is(err, ErrNoObjectLock) {
		t.Fatalf("InitBucket on a bucket without Object Lock: %v", err)
	}
}

func TestCheckBucketReportsEveryShortfall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := testaws.Require(t).S3(t)

	plain := testaws.CreateBucket(t, c, testaws.BucketOptions{})
	fs, err := CheckBucket(ctx, c, storeConfig(plain))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[Kind]bool{}
	for _, f := range fs {
		if f.Object != "s3://"+plain {
			t.Errorf("finding names %q, want the bucket", f.Object)
		}
		kinds[f.Kind] = f.Severity == SeverityFailure
	}
	if !kinds["bucket-versioning"] || !kinds["bucket-object-lock"] {
		t.Fatalf("unversioned bucket findings = %v", fs)
	}

	governance := testaws.CreateBucket(t, c, testaws.BucketOptions{ObjectLock: true, Mode: types.ObjectLockRetentionModeGovernance, Days: 1})
	if fs, err = CheckBucket(ctx, c, storeConfig(governance)); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range fs {
		if f.Kind == "bucket-default-retention" && f.Severity == SeverityFailure {
			found = true
		}
	}
	if !found {
		t.Fatalf("GOVERNANCE default against a COMPLIANCE config not reported: %v", fs)
	}
}

func TestRetentionAtLeast(t *testing.T) {
	c := func(d int) Retention { return Retention{Mode: config.ModeCompliance, Days: d} }
	g := func(d int) Retention { return Retention{Mode: config.ModeGovernance, Days: d} }
	cases := []struct {
		a, b Retention
		want bool
	}{
		{c(10), c(10), true}, {c(11), c(10), true}, {c(9), c(10), false},
		{c(10), g(10), true}, {g(10), c(1), false}, {g(10), g(5), true},
		{Retention{}, c(1), false}, {c(1), Retention{}, true},
	}
	for _, tc := range cases {
		if got := tc.a.AtLeast(tc.b); got != tc.want {
			t.Errorf("%v.AtLeast(%v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
