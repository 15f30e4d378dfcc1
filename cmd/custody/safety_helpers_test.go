package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/internal/testaws"
)

// safetyStore is an evidence store set up through the binary's own
// commands (keygen, store init) for the safety tests.
type safetyStore struct {
	env    testaws.Env
	dir    string
	cfg    string
	bucket string
	ledger string
	stream string
	s3     *s3.Client
}

// newSafetyStore sets up a GOVERNANCE store (no confirmation needed) with
// a signing key and a trust list, and points the process at it.
func newSafetyStore(t *testing.T) *safetyStore {
	t.Helper()
	e := testaws.Require(t)
	e.Setenv(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "test passphrase")
	dir := t.TempDir()
	key := filepath.Join(dir, "signing.pem")
	if out, errOut, code := run(t, "keygen", "--out", key); code != 0 {
		t.Fatalf("keygen: exit %d\n%s%s", code, out, errOut)
	}
	s := &safetyStore{env: e, dir: dir, cfg: filepath.Join(dir, "custody.yaml"), bucket: testaws.BucketName(t),
		ledger: filepath.Join(dir, "ledger.db"), stream: "responder-1", s3: e.S3(t)}
	writeConfig(t, s.cfg, fmt.Sprintf(`ledger: %s
agent: {stream: %s}
store:
  bucket: %s
  retention: {mode: GOVERNANCE, days: 1}
signer:
  key: file://%s
trust:
  - name: responder
    key: file://%s/signing.pub
`, s.ledger, s.stream, s.bucket, key, dir))
	if out, errOut, code := run(t, "-c", s.cfg, "store", "init"); code != 0 {
		t.Fatalf("store init: exit %d\n%s%s", code, out, errOut)
	}
	return s
}

// file writes a file of the given content in the store's folder.
func (s *safetyStore) file(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// versions lists every object version and delete marker in the bucket, as
// "key?versionId=..." strings.
func (s *safetyStore) versions(t *testing.T) []string {
	t.Helper()
	var out []string
	p := s3.NewListObjectVersionsPaginator(s.s3, &s3.ListObjectVersionsInput{Bucket: aws.String(s.bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			out = append(out, aws.ToString(v.Key)+"?versionId="+aws.ToString(v.VersionId))
		}
		for _, m := range page.DeleteMarkers {
			out = append(out, aws.ToString(m.Key)+"?versionId="+aws.ToString(m.VersionId)+" (marker)")
		}
	}
	return out
}

// manifests counts the manifest versions in the bucket.
func (s *safetyStore) manifests(t *testing.T) int {
	n := 0
	for _, v := range s.versions(t) {
		if strings.Contains(v, "/manifests/") && !strings.Contains(v, "checkpoint") {
			n++
		}
	}
	return n
}

// ledgerState is a digest of the ledger's files (database and WAL).
func (s *safetyStore) ledgerState(t *testing.T) string {
	t.Helper()
	h := sha256.New()
	for _, suffix := range []string{"", "-wal"} {
		f, err := os.Open(s.ledger + suffix)
		if os.IsNotExist(err) {
			fmt.Fprintf(h, "%s: none\n", suffix)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sameStrings reports whether a and b hold the same strings in order.
func sameStrings(a, b []string) bool {
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}
