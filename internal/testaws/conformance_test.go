package testaws

// Conformance of the stand-ins: the behaviours the rest of custody relies
// on, checked against the real MinIO and moto servers.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	sigkms "github.com/sigstore/sigstore/pkg/signature/kms"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws" // the awskms:// provider

	"github.com/custody-ir/custody/internal/awsclient"
)

func TestObjectLockComplianceRefusesDeletion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := Require(t).S3(t)
	bucket := CreateBucket(t, c, BucketOptions{ObjectLock: true, Mode: types.ObjectLockRetentionModeCompliance, Days: 1})

	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("evidence.json"), Body: strings.NewReader("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if put.VersionId == nil || *put.VersionId == "" {
		t.Fatal("Object Lock bucket returned no version id")
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("evidence.json"), VersionId: put.VersionId})
	if err != nil {
		t.Fatal(err)
	}
	if head.ObjectLockMode != types.ObjectLockModeCompliance || head.ObjectLockRetainUntilDate == nil {
		t.Fatalf("default retention not applied: mode %q until %v", head.ObjectLockMode, head.ObjectLockRetainUntilDate)
	}

	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("evidence.json"), VersionId: put.VersionId})
	if err == nil {
		t.Fatal("a COMPLIANCE-locked version was deleted")
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("evidence.json"), VersionId: put.VersionId, BypassGovernanceRetention: aws.Bool(true)})
	if err == nil {
		t.Fatal("a COMPLIANCE-locked version was deleted with governance bypass")
	}
	// Shortening COMPLIANCE retention is refused too.
	_, err = c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{
		Bucket: aws.String(bucket), Key: aws.String("evidence.json"), VersionId: put.VersionId,
		Retention:                 &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(head.ObjectLockRetainUntilDate.Add(-12 * 3600e9))},
		BypassGovernanceRetention: aws.Bool(true),
	})
	if err == nil {
		t.Fatal("COMPLIANCE retention was shortened")
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("evidence.json"), VersionId: put.VersionId}); err != nil {
		t.Fatalf("locked version gone after refused deletes: %v", err)
	}
}

func TestGovernanceBypassDeletes(t *testing.T) {
	// The tamper suite relies on GOVERNANCE buckets whose evidence a test
	// can alter with bypass; check that MinIO allows exactly that.
	t.Parallel()
	ctx := context.Background()
	c := Require(t).S3(t)
	bucket := CreateBucket(t, c, BucketOptions{ObjectLock: true, Mode: types.ObjectLockRetentionModeGovernance, Days: 1})
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), VersionId: put.VersionId}); err == nil {
		t.Fatal("GOVERNANCE-locked version deleted without bypass")
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), VersionId: put.VersionId, BypassGovernanceRetention: aws.Bool(true)}); err != nil {
		t.Fatalf("GOVERNANCE bypass delete: %v", err)
	}
}

func TestSHA256ChecksumRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := Require(t).S3(t)
	bucket := CreateBucket(t, c, BucketOptions{Versioning: true})
	body := bytes.Repeat([]byte("custody "), 1000)
	sum := sha256.Sum256(body)
	want := base64.StdEncoding.EncodeToString(sum[:])

	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("a b+c%/é.bin"), Body: bytes.NewReader(body),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("a b+c%/é.bin"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(head.ChecksumSHA256); got != want {
		t.Fatalf("HeadObject ChecksumSHA256 = %q, want %q", got, want)
	}

	// A wrong checksum is rejected: the server verifies, not just stores.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("bad"), Body: bytes.NewReader(body),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 32))),
	})
	if err == nil {
		t.Fatal("PutObject with a wrong x-amz-checksum-sha256 succeeded")
	}
}

func TestVersioningDeleteMarkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := Require(t).S3(t)
	bucket := CreateBucket(t, c, BucketOptions{Versioning: true})
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("doc.txt"), Body: strings.NewReader("v1")})
	if err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("doc.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) == "" {
		t.Fatalf("delete did not create a delete marker: %+v", del)
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("doc.txt")}); err == nil {
		t.Fatal("GetObject of a key behind a delete marker succeeded")
	}
	out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.DeleteMarkers) != 1 || !aws.ToBool(out.DeleteMarkers[0].IsLatest) || aws.ToString(out.DeleteMarkers[0].VersionId) != aws.ToString(del.VersionId) {
		t.Fatalf("delete markers = %+v", out.DeleteMarkers)
	}
	if len(out.Versions) != 1 || aws.ToString(out.Versions[0].VersionId) != aws.ToString(put.VersionId) || aws.ToBool(out.Versions[0].IsLatest) {
		t.Fatalf("versions = %+v", out.Versions)
	}
	// Removing the marker brings the version back.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("doc.txt"), VersionId: del.VersionId}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("doc.txt")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(b) != "v1" || aws.ToString(got.VersionId) != aws.ToString(put.VersionId) {
		t.Fatalf("after marker removal got %q version %s", b, aws.ToString(got.VersionId))
	}
}

func TestMotoKMSSignsECDSAP256(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := Require(t)
	c := kms.NewFromConfig(e.Config(t).AWS)
	key, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: key.KeyMetadata.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.ParsePKIXPublicKey(pub.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ec, ok := pk.(*ecdsa.PublicKey)
	if !ok || ec.Curve.Params().Name != "P-256" {
		t.Fatalf("public key is %T, want ECDSA P-256", pk)
	}

	msg := []byte("manifest")
	digest := sha256.Sum256(msg)
	raw, err := c.Sign(ctx, &kms.SignInput{KeyId: key.KeyMetadata.KeyId, Message: msg, MessageType: kmstypes.MessageTypeRaw, SigningAlgorithm: kmstypes.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(ec, digest[:], raw.Signature) {
		t.Fatal("moto's ECDSA signature of a RAW message does not verify with its public key")
	}

	// AWS signs a DIGEST message as given (scripts/motoserver.py makes
	// moto 5.2.1 do the same; alone it would hash the digest again).
	sig, err := c.Sign(ctx, &kms.SignInput{KeyId: key.KeyMetadata.KeyId, Message: digest[:], MessageType: kmstypes.MessageTypeDigest, SigningAlgorithm: kmstypes.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(ec, digest[:], sig.Signature) {
		t.Fatal("KMS signature of a DIGEST message does not verify over that digest")
	}
	v, err := c.Verify(ctx, &kms.VerifyInput{KeyId: key.KeyMetadata.KeyId, Message: digest[:], MessageType: kmstypes.MessageTypeDigest, Signature: sig.Signature, SigningAlgorithm: kmstypes.SigningAlgorithmSpecEcdsaSha256})
	if err != nil || !v.SignatureValid {
		t.Fatalf("KMS Verify of its own DIGEST signature: valid=%v err=%v", v != nil && v.SignatureValid, err)
	}
}

// TestSigstoreAWSKMSSigner signs through sigstore's awskms:// provider, the
// path custody's signer takes; the provider reads the process environment.
func TestSigstoreAWSKMSSigner(t *testing.T) {
	ctx := context.Background()
	e := Require(t)
	e.Setenv(t)
	c := kms.NewFromConfig(e.Config(t).AWS)
	key, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	sv, err := sigkms.Get(ctx, "awskms:///"+aws.ToString(key.KeyMetadata.KeyId), crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	sig, err := sv.SignMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	ec := pub.(*ecdsa.PublicKey)
	digest := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(ec, digest[:], sig) {
		t.Fatal("signature from the sigstore awskms signer does not verify")
	}
	if err := sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader([]byte("other"))); err == nil {
		t.Fatal("signature verified over a different message")
	}
}

func TestSTSAssumeRoleWithExternalID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := Require(t)
	session := awsclient.SessionName("collect", "agent-1")
	assumed := e.Config(t).AssumeRole("arn:aws:iam::123456789012:role/custody-collector", "ext-42", session)
	creds, err := assumed.AWS.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if creds.SessionToken == "" || creds.AccessKeyID == e.AccessKey {
		t.Fatalf("AssumeRole returned no temporary credentials: %+v", creds.AccessKeyID)
	}
	id, err := assumed.STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(id.Arn)
	if !strings.Contains(arn, "assumed-role/custody-collector/"+session) {
		t.Fatalf("caller identity %q does not name the assumed role and session %q", arn, session)
	}
}
