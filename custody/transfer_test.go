package custody

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/testaws"
)

// damagingClient is S3 whose answers for one key arrive with their first
// byte flipped on the way, headers (S3's checksum) untouched.
type damagingClient struct {
	*s3.Client
	key string
}

func (c damagingClient) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := c.Client.GetObject(ctx, in, opts...)
	if err != nil || aws.ToString(in.Key) != c.key {
		return out, err
	}
	body, err := io.ReadAll(out.Body)
	out.Body.Close()
	if len(body) > 0 {
		body[0] ^= 0xff
	}
	out.Body = io.NopCloser(bytes.NewReader(body))
	return out, err
}

// Verify hashes what it reads once, itself, rather than also letting the
// SDK check it against S3's checksum: bytes damaged between S3 and the
// verifier must still be told apart from tampered evidence, and reported
// as unreadable (retry), as the SDK's check made them.
func TestVerifyTellsDamageInTransferFromTampering(t *testing.T) {
	t.Parallel()
	te := newTamperEnv(t)
	for _, tc := range []struct {
		name, key string
		kind      finding.Kind
		tampered  []finding.Kind // what the same bytes, stored, would be
	}{
		{"artifact", te.arts[0].Key, finding.ArtifactUnreadable, []finding.Kind{finding.ArtifactDigestMismatch, finding.ArtifactChecksumMismatch}},
		{"manifest", te.manifests[1], finding.ManifestUnreadable, []finding.Kind{finding.ManifestMalformed, finding.SignatureUntrusted}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := damagingClient{Client: te.s3, key: tc.key}
			r, err := NewVerifier(api, te.cfg, te.trust, te.ledger, te.clock.now).Verify(context.Background(), VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			testaws.RequireFinding(t, r.Findings, tc.kind, tc.key)
			for _, f := range r.Findings {
				if f.Kind == tc.kind && strings.Contains(f.Object, tc.key) && !strings.Contains(f.Message, "do not match S3's SHA-256 checksum") {
					t.Errorf("%s does not say the read was damaged: %s", tc.kind, f)
				}
				for _, k := range tc.tampered {
					if f.Kind == k && strings.Contains(f.Object, tc.key) {
						t.Errorf("damage in transfer reported as tampering: %s", f)
					}
				}
			}
			if r.OK {
				t.Fatal("a verify that could not read evidence whole says OK")
			}
		})
	}
}

func TestCheckTransfer(t *testing.T) {
	body := []byte("evidence")
	sum := sha256.Sum256(body)
	good := base64.StdEncoding.EncodeToString(sum[:])
	other := sha256.Sum256([]byte("other"))
	for _, tc := range []struct {
		name, checksum string
		ok             bool
	}{
		{"agrees", good, true},
		{"S3 sent none", "", true},
		{"a checksum of parts is not S3's of the whole", good + "-3", true},
		{"disagrees", base64.StdEncoding.EncodeToString(other[:]), false},
	} {
		err := checkTransfer(ObjectMeta{ChecksumSHA256: tc.checksum}, sum[:])
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, errTransfer)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// The reads verify hashes itself really leave out the SDK's own hashing of
// the body (else each byte is hashed twice, and an SDK that renamed its
// check would bring it back unseen): against a server whose checksum
// header is wrong, the SDK's plain read fails and the self-checked one
// reads the bytes, for checkTransfer to judge.
func TestSelfCheckedReadsSkipTheSDKCheck(t *testing.T) {
	wrong := sha256.Sum256([]byte("other bytes"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amz-checksum-sha256", base64.StdEncoding.EncodeToString(wrong[:]))
		_, _ = io.WriteString(w, "evidence")
	}))
	defer srv.Close()
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	read := func(api awsclient.ObjectGetter) error {
		out, err := api.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), VersionId: aws.String("v"), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		_, err = io.ReadAll(out.Body)
		return err
	}
	if err := read(client); err == nil {
		t.Fatal("the SDK's plain read did not check the body against S3's checksum: the test server is not what it should be")
	}
	if err := read(selfCheckedGetter{client}); err != nil {
		t.Fatalf("the self-checked read still ran the SDK's check (%q renamed?): %v", sdkResponseValidation, err)
	}
}
