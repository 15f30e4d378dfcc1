// Command demofixture sets up and shows the demo's scenery on the local
// stand-ins (or any S3 the SDK's environment points at): a versioned source
// bucket with objects, and listings of what a bucket holds. It is a demo
// and test aid, not part of custody.
//
//	demofixture seed BUCKET N   create a versioned bucket with N objects, some overwritten
//	demofixture list BUCKET     print every version and delete marker
//	demofixture public BUCKET   attach a bucket policy that lets anyone read it
//	demofixture incident BUCKET a compromised key overwrites two records, deletes two and plants a note
//	demofixture trail BUCKET KEYS   write a signed CloudTrail trail (the last 6 hours) into
//	                               BUCKET and its public keys (list-public-keys JSON) to KEYS
//	demofixture keyserver KEYS URLFILE  serve CloudTrail ListPublicKeys from KEYS until killed
//	demofixture configdelivery BUCKET   write three days of AWS Config deliveries into BUCKET
//	demofixture detectorfinding BUCKET  enable Security Hub and import a HIGH finding naming BUCKET
//	demofixture accesslogs LOGBUCKET SOURCE FROM N  write N server access log objects (the
//	                               FROM-th on) of SOURCE into LOGBUCKET (created if need be), in
//	                               AWS's partitioned format, prefix logs/: MinIO writes none
//	demofixture tamper BUCKET KEY  replace the newest version of KEY with other bytes,
//	                               using governance bypass (what an insider could do
//	                               to a GOVERNANCE bucket; COMPLIANCE refuses it)
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/collector/accesslog/altest"
	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/internal/awsclient"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "demofixture:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: demofixture seed BUCKET N | list BUCKET")
	}
	ac, err := awsclient.Load(ctx, awsclient.Options{})
	if err != nil {
		return err
	}
	c := ac.S3()
	switch args[0] {
	case "seed":
		n := 10
		if len(args) > 2 {
			if n, err = strconv.Atoi(args[2]); err != nil {
				return fmt.Errorf("seed: object count: %w", err)
			}
		}
		return seed(ctx, c, args[1], n)
	case "list":
		return list(ctx, c, args[1])
	case "trail":
		if len(args) != 3 {
			return fmt.Errorf("usage: demofixture trail BUCKET KEYS")
		}
		return trail(ctx, c, args[1], args[2])
	case "keyserver":
		if len(args) != 3 {
			return fmt.Errorf("usage: demofixture keyserver KEYS URLFILE")
		}
		return keyServer(args[1], args[2])
	case "configdelivery":
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(args[1])}); err != nil {
			return err
		}
		keys, err := cttest.ConfigDelivery(ctx, c, args[1], "", "123456789012", "us-east-1", time.Now().UTC().Add(-48*time.Hour), 3)
		if err != nil {
			return err
		}
		fmt.Printf("wrote %d AWS Config delivery files to s3://%s\n", len(keys), args[1])
		return nil
	case "incident":
		for _, k := range []string{"customers/record-001.json", "customers/record-004.json"} {
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(args[1]), Key: aws.String(k), Body: strings.NewReader("ENCRYPTED")}); err != nil {
				return err
			}
		}
		for _, k := range []string{"customers/record-000.json", "customers/record-003.json"} {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(args[1]), Key: aws.String(k)}); err != nil {
				return err
			}
		}
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(args[1]), Key: aws.String("READ_ME_TO_RECOVER.txt"), Body: strings.NewReader("pay us")}); err != nil {
			return err
		}
		fmt.Println("overwrote record-001 and record-004, deleted record-000 and record-003, planted READ_ME_TO_RECOVER.txt")
		return nil
	case "public":
		policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"oops","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`, args[1])
		if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(args[1]), Policy: aws.String(policy)}); err != nil {
			return fmt.Errorf("put policy on s3://%s: %w", args[1], err)
		}
		fmt.Printf("s3://%s now has a policy granting s3:GetObject to \"Principal\": \"*\"\n", args[1])
		return nil
	case "detectorfinding":
		return detectorFinding(ctx, ac.AWS, args[1])
	case "accesslogs":
		if len(args) != 5 {
			return fmt.Errorf("usage: demofixture accesslogs LOGBUCKET SOURCE FROM N")
		}
		return accessLogs(ctx, c, args[1], args[2], args[3], args[4])
	case "tamper":
		if len(args) != 3 {
			return fmt.Errorf("usage: demofixture tamper BUCKET KEY")
		}
		return tamper(ctx, c, args[1], args[2])
	}
	return fmt.Errorf("unknown step %q", args[0])
}

func seed(ctx context.Context, c *s3.Client, bucket string, n int) error {
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("create %s: %w", bucket, err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket: aws.String(bucket), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		return fmt.Errorf("enable versioning on %s: %w", bucket, err)
	}
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("customers/record-%03d.json", i)
		for v := 1; v <= 1+i%3; v++ { // some keys get later versions
			body := fmt.Sprintf(`{"id":%d,"version":%d,"written":%q}`, i, v, time.Now().UTC().Format(time.RFC3339Nano))
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body),
				ContentType: aws.String("application/json"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
			}); err != nil {
				return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
			}
		}
	}
	return nil
}

func list(ctx context.Context, c *s3.Client, bucket string) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "KEY\tVERSION\tLATEST\tSIZE\tMODIFIED\tKIND\n")
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s: %w", bucket, err)
		}
		for _, v := range page.Versions {
			fmt.Fprintf(w, "%s\t%s\t%v\t%d\t%s\tversion\n", aws.ToString(v.Key), aws.ToString(v.VersionId), aws.ToBool(v.IsLatest), aws.ToInt64(v.Size), aws.ToTime(v.LastModified).UTC().Format(time.RFC3339))
		}
		for _, m := range page.DeleteMarkers {
			fmt.Fprintf(w, "%s\t%s\t%v\t-\t%s\tdelete marker\n", aws.ToString(m.Key), aws.ToString(m.VersionId), aws.ToBool(m.IsLatest), aws.ToTime(m.LastModified).UTC().Format(time.RFC3339))
		}
	}
	return w.Flush()
}

func tamper(ctx context.Context, c *s3.Client, bucket, key string) error {
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("head s3://%s/%s: %w", bucket, key, err)
	}
	del := &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: head.VersionId, BypassGovernanceRetention: aws.Bool(true)}
	if _, err := c.DeleteObject(ctx, del); err != nil {
		if head.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOn {
			return fmt.Errorf("delete s3://%s/%s (version %s): %w", bucket, key, aws.ToString(head.VersionId), err)
		}
		fmt.Printf("delete with governance bypass refused: the artifact is under legal hold\n")
		if _, err := c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: head.VersionId,
			LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}}); err != nil {
			return fmt.Errorf("lift legal hold on s3://%s/%s: %w", bucket, key, err)
		}
		fmt.Printf("the insider lifts the legal hold (s3:PutObjectLegalHold) and deletes again\n")
		if _, err := c.DeleteObject(ctx, del); err != nil {
			return fmt.Errorf("delete s3://%s/%s (version %s): %w", bucket, key, aws.ToString(head.VersionId), err)
		}
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("altered after sealing\n"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256}); err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	fmt.Printf("replaced s3://%s/%s (version %s deleted with governance bypass, new bytes written)\n", bucket, key, aws.ToString(head.VersionId))
	return nil
}

func trail(ctx context.Context, c *s3.Client, bucket, keysFile string) error {
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return err
	}
	w, err := cttest.Write(ctx, c, cttest.Trail{Bucket: bucket, Account: "123456789012", Region: "us-east-1", Name: "org-trail",
		Start: time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour), Hours: 6, LogsPerHour: 2, EmptyHours: map[int]bool{2: true}, RotateAt: 3})
	if err != nil {
		return err
	}
	b, err := cloudtrail.MarshalPublicKeys(w.Keys)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keysFile, b, 0o600); err != nil {
		return err
	}
	fmt.Printf("wrote trail org-trail to s3://%s: %d signed digests, %d log files, %d signing keys (rotated)\n", bucket, len(w.Digests), len(w.Logs), len(w.Keys))
	return nil
}

func keyServer(keysFile, urlFile string) error {
	b, err := os.ReadFile(keysFile)
	if err != nil {
		return err
	}
	keys, err := cloudtrail.ParsePublicKeys(b)
	if err != nil {
		return err
	}
	srv := cttest.NewKeyServer(keys)
	defer srv.Close()
	if err := os.WriteFile(urlFile, []byte(srv.URL), 0o600); err != nil {
		return err
	}
	select {} // until killed
}

// accessLogs writes generated server access logs of source, as S3
// delivers them, into logBucket: objects from to from+n-1 of one delivery
// (an hour apart, ending now).
func accessLogs(ctx context.Context, c *s3.Client, logBucket, source, fromArg, nArg string) error {
	from, err := strconv.Atoi(fromArg)
	if err != nil {
		return fmt.Errorf("accesslogs: FROM: %w", err)
	}
	n, err := strconv.Atoi(nArg)
	if err != nil {
		return fmt.Errorf("accesslogs: N: %w", err)
	}
	if from == 0 {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(logBucket)}); err != nil {
			return fmt.Errorf("create %s: %w", logBucket, err)
		}
	}
	d := altest.Delivery{TargetBucket: logBucket, TargetPrefix: "logs/", Format: altest.Format{Partitioned: true, EventTime: true},
		Account: "123456789012", Region: "us-east-1", Source: source, Start: time.Now().UTC().Truncate(time.Hour).Add(-8 * time.Hour),
		Every: time.Hour, Objects: from + n, RecordsPerObject: 5, Seed: 14}
	objs := d.Make()[from:]
	for _, o := range objs {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(logBucket), Key: aws.String(o.Key), Body: strings.NewReader(o.Body())}); err != nil {
			return fmt.Errorf("write s3://%s/%s: %w", logBucket, o.Key, err)
		}
		fmt.Printf("s3://%s/%s: %d requests, e.g. %s %s\n", logBucket, o.Key, len(o.Entries), o.Entries[0].Operation, o.Entries[0].Key)
	}
	return nil
}
