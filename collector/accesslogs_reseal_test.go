package collector

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

var errAnswerLost = errors.New("connection reset: the answer was lost")

// answerLost is an evidence bucket whose PUT of a chosen artifact lands,
// and whose answer is lost on the way back: the agent is killed before it
// learns the upload's version.
type answerLost struct {
	*s3.Client
	suffixes []string // of the artifact keys whose answers are lost
}

func (l *answerLost) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	out, err := l.Client.PutObject(ctx, in, opts...)
	for _, s := range l.suffixes {
		if err == nil && strings.HasSuffix(aws.ToString(in.Key), s) {
			return nil, errAnswerLost
		}
	}
	return out, err
}

// TestAccessLogCopyResealedWithItsSourceVersion: an access-log copy's
// intent is recorded before its source is read (Run.Intend), so without
// its source version. A copy whose upload landed but whose answer was
// lost, in a run the agent never sealed, is resealed at the next start
// with the version of the source object it copied, as a copy sealed
// normally is: the source's version id in a versioned log bucket, its
// ETag in an unversioned one.
func TestAccessLogCopyResealedWithItsSourceVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	monitored := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{})
	target := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{Versioning: true})
	flow := testaws.CreateBucket(t, e.s3, testaws.BucketOptions{})
	start := time.Now().UTC().Add(-5 * time.Hour).Truncate(time.Second)
	put := func(bucket, key, body string) {
		if _, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	var logKeys, flowKeys []string
	for i := range 3 {
		k := "logs/" + start.Add(time.Duration(i)*time.Minute).Format("2006-01-02-15-04-05") + fmt.Sprintf("-%016X", i)
		put(target, k, "")
		put(target, k, fmt.Sprintf("the version copied: %d\n", i)) // a second version: the source's newest
		logKeys = append(logKeys, k)
		k = fmt.Sprintf("flow/%02d.log", i)
		put(flow, k, fmt.Sprintf("version account-id\n2 123456789012 %d\n", i))
		flowKeys = append(flowKeys, k)
	}

	// The killed agent's chain: same ledger and stream, an evidence bucket
	// that loses the answers to the second copy of each delivery.
	lost := &answerLost{Client: e.s3, suffixes: []string{"/" + target + "/" + logKeys[1], "/" + flow + "/" + flowKeys[1]}}
	store, err := custody.OpenStore(ctx, lost, e.store, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, _ := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	killed, err := custody.NewChain(store, e.s3, e.Ledger, signer, "agent", custody.Who{Host: "test"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range []*AccessLogs{
		{Buckets: []string{monitored}, Targets: []config.AccessLogTarget{{Bucket: monitored, TargetBucket: target, TargetPrefix: "logs/"}}},
		{LogBuckets: []config.BucketPrefix{{Bucket: flow, Prefix: "flow/"}}},
	} {
		col.API, col.Ledger, col.Account, col.Region, col.Prefix, col.Now, col.Concurrency = e.s3, e.Ledger, "123456789012", "us-east-1", "custody", time.Now, 1
		run, err := killed.StartRun(ctx, col.Name())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := col.Collect(ctx, run); !errors.Is(err, errAnswerLost) {
			t.Fatalf("the run whose answer was lost: %v", err)
		}
		// Killed here: the versions answered are in the ledger, the lost
		// one is an intent alone, and the run is never sealed.
		if err := e.Ledger.Flush(ctx, run.ID); err != nil {
			t.Fatal(err)
		}
	}

	n, err := e.Chain.Reseal(ctx)
	if err != nil || n != 4 {
		t.Fatalf("reseal = %d, %v; want the 4 copies that landed", n, err)
	}
	// What the normal path records of each source: its version id, or its
	// ETag when the bucket gives none.
	want := map[string]string{}
	for bucket, keys := range map[string][]string{target: logKeys, flow: flowKeys} {
		for _, k := range keys[:2] {
			h, err := e.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
			if err != nil {
				t.Fatal(err)
			}
			v := aws.ToString(h.VersionId)
			if bucket == target && (v == "" || v == "null") {
				t.Fatalf("the versioned log bucket gave %s no version id", k)
			}
			if v == "" {
				v = aws.ToString(h.ETag)
			}
			want["s3://"+bucket+"/"+k] = v
		}
	}
	got := map[string]custody.SubjectAnnotation{}
	for _, m := range e.verify(t).Manifests {
		for _, s := range m.Subjects() {
			if s.Annotations.Kind == KindAccessLog || s.Annotations.Kind == KindLogFile {
				got[s.Annotations.Source] = s.Annotations
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("sealed %d copies, want %d: %v", len(got), len(want), got)
	}
	for src, v := range want {
		a, ok := got[src]
		switch {
		case !ok:
			t.Errorf("%s not sealed", src)
		case a.SourceVersion != v:
			t.Errorf("%s sealed with source version %q, want %q", src, a.SourceVersion, v)
		case len(a.Metadata) != 0:
			t.Errorf("%s sealed with metadata %v, want none (as a copy sealed normally)", src, a.Metadata)
		}
	}
}
