package custody

// The tamper suite: each case alters evidence in a GOVERNANCE bucket the
// way an insider with s3:BypassGovernanceRetention could, and verify must
// report it with a finding naming the object.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

type tamperEnv struct {
	*testEnv
	manifests []string // keys of manifests 1..3
	versions  []string
	arts      []Artifact // artifacts of manifest 2
}

func newTamperEnv(t *testing.T) *tamperEnv {
	e := newTestEnv(t, config.ModeGovernance)
	te := &tamperEnv{testEnv: e}
	for i := 0; i < 3; i++ {
		m, arts := e.collect(e.chain, 2)
		te.manifests = append(te.manifests, m.Key)
		te.versions = append(te.versions, m.VersionID)
		if i == 1 {
			te.arts = arts
		}
	}
	if fs := testaws.Failures(e.verify(VerifyOptions{}).Findings); len(fs) != 0 {
		t.Fatalf("untouched store has failures: %v", fs)
	}
	return te
}

func (te *tamperEnv) get(key, version string) []byte {
	te.t.Helper()
	out, err := te.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(te.cfg.Bucket), Key: aws.String(key), VersionId: aws.String(version)})
	if err != nil {
		te.t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		te.t.Fatal(err)
	}
	return b
}

func (te *tamperEnv) remove(key, version string) {
	te.t.Helper()
	if _, err := te.s3.DeleteObject(context.Background(), bypass(&s3.DeleteObjectInput{Bucket: aws.String(te.cfg.Bucket), Key: aws.String(key), VersionId: aws.String(version)})); err != nil {
		te.t.Fatalf("delete %s: %v", key, err)
	}
}

func (te *tamperEnv) put(key string, body []byte) {
	te.t.Helper()
	if _, err := te.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(te.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		te.t.Fatalf("put %s: %v", key, err)
	}
}

func TestTamperDetection(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		tamper func(te *tamperEnv) (kind, object string)
	}{
		{"artifact bytes replaced", func(te *tamperEnv) (string, string) {
			a := te.arts[0]
			te.remove(a.Key, a.VersionID)
			te.put(a.Key, []byte(`{"forged":true}`))
			return "artifact-missing", a.Key
		}},
		{"artifact version deleted", func(te *tamperEnv) (string, string) {
			a := te.arts[1]
			te.remove(a.Key, a.VersionID)
			return "artifact-missing", a.Key + "?versionId=" + a.VersionID
		}},
		{"delete marker on an artifact", func(te *tamperEnv) (string, string) {
			a := te.arts[0]
			if _, err := te.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(te.cfg.Bucket), Key: aws.String(a.Key)}); err != nil {
				te.t.Fatal(err)
			}
			return "artifact-delete-marker", a.Key
		}},
		{"manifest deleted from the middle", func(te *tamperEnv) (string, string) {
			te.remove(te.manifests[1], te.versions[1])
			return "manifest-missing", te.manifests[1]
		}},
		{"last manifest deleted", func(te *tamperEnv) (string, string) {
			te.remove(te.manifests[2], te.versions[2])
			return "manifest-missing", te.manifests[2]
		}},
		{"delete marker on a manifest", func(te *tamperEnv) (string, string) {
			if _, err := te.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(te.cfg.Bucket), Key: aws.String(te.manifests[1])}); err != nil {
				te.t.Fatal(err)
			}
			return "manifest-delete-marker", te.manifests[1]
		}},
		{"two manifests swapped", func(te *tamperEnv) (string, string) {
			m2, m3 := te.get(te.manifests[1], te.versions[1]), te.get(te.manifests[2], te.versions[2])
			te.remove(te.manifests[1], te.versions[1])
			te.remove(te.manifests[2], te.versions[2])
			te.put(te.manifests[1], m3)
			te.put(te.manifests[2], m2)
			return "manifest-reordered", te.manifests[1]
		}},
		{"manifest re-signed with an untrusted key", func(te *tamperEnv) (string, string) {
			env, err := ParseEnvelope(bytes.NewReader(te.get(te.manifests[1], te.versions[1])))
			if err != nil {
				te.t.Fatal(err)
			}
			forged, err := SignEnvelope(newKey(te.t), PayloadType, env.Payload)
			if err != nil {
				te.t.Fatal(err)
			}
			te.remove(te.manifests[1], te.versions[1])
			te.put(te.manifests[1], forged)
			return "signature-untrusted", te.manifests[1]
		}},
		{"subject digest edited", func(te *tamperEnv) (string, string) {
			raw := te.get(te.manifests[1], te.versions[1])
			env, err := ParseEnvelope(bytes.NewReader(raw))
			if err != nil {
				te.t.Fatal(err)
			}
			var st Statement
			if err := json.Unmarshal(env.Payload, &st); err != nil {
				te.t.Fatal(err)
			}
			st.Subject[0].Digest["sha256"] = strings.Repeat("0", 64)
			payload, _ := json.Marshal(st)
			env.DSSE.Payload = base64.StdEncoding.EncodeToString(payload)
			edited, _ := json.Marshal(env.DSSE)
			te.remove(te.manifests[1], te.versions[1])
			te.put(te.manifests[1], edited)
			return "signature-untrusted", te.manifests[1]
		}},
		{"retention shortened", func(te *tamperEnv) (string, string) {
			a := te.arts[0]
			_, err := te.s3.PutObjectRetention(context.Background(), &s3.PutObjectRetentionInput{
				Bucket: aws.String(te.cfg.Bucket), Key: aws.String(a.Key), VersionId: aws.String(a.VersionID),
				Retention:                 &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(time.Now().Add(time.Hour))},
				BypassGovernanceRetention: aws.Bool(true),
			})
			if err != nil {
				te.t.Fatal(err)
			}
			return "artifact-retention-shortened", a.Key
		}},
		{"unsealed object added", func(te *tamperEnv) (string, string) {
			key := "custody/123456789012/us-east-1/test/planted.json"
			te.put(key, []byte(`{"planted":true}`))
			return "unsealed-object", key
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			te := newTamperEnv(t)
			kind, object := tc.tamper(te)
			r := te.verify(VerifyOptions{})
			if r.OK {
				t.Fatal("verify reports OK after tampering")
			}
			testaws.RequireFinding(t, r.Findings, Kind(kind), object)
		})
	}
}
