package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/internal/testaws"
)

// TestWitnessCatchesTruncatedTailFromAnyMachine: a store with a witness on
// the replica server (another region, its own Ed25519 key); the insider
// lifts the legal holds and deletes the last two seals whole (manifests,
// artifacts, checkpoint versions) with GOVERNANCE bypass. The store is a consistent, shorter
// log; verify on a machine without the ledger still fails, because the
// witness cosigned the longer one.
func TestWitnessCatchesTruncatedTailFromAnyMachine(t *testing.T) {
	ctx := context.Background()
	s := newSafetyStore(t)
	key := filepath.Join(s.dir, "witness.pem")
	if out, errOut, code := run(t, "keygen", "--ed25519", "--out", key); code != 0 || !strings.Contains(out, "witnesses[].key: file://") {
		t.Fatalf("keygen --ed25519: exit %d\n%s%s", code, out, errOut)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("witness key %v, mode %v: want 0600", err, fi)
	}
	if b, _ := os.ReadFile(key); !strings.Contains(string(b), "ENCRYPTED") {
		t.Fatalf("witness key written unprotected:\n%s", b)
	}
	wbucket := testaws.CreateBucket(t, s.env.ReplicaS3(t), testaws.BucketOptions{ObjectLock: true, Mode: types.ObjectLockRetentionModeGovernance, Days: 1})
	cfg, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeConfig(t, s.cfg, string(cfg)+fmt.Sprintf(`witnesses:
  - name: witness.example/w1
    bucket: %s
    region: %s
    endpoint: %s
    key: file://%s
    public: file://%s
`, wbucket, s.env.ReplicaRegion, s.env.ReplicaEndpoint, key, strings.TrimSuffix(key, ".pem")+".pub"))

	var kept map[string]bool
	for i := 0; i < 4; i++ {
		if out, errOut, code := run(t, "-c", s.cfg, "add", "--case", "IR-1", s.file(t, fmt.Sprintf("note-%d.txt", i), fmt.Sprint(i))); code != 0 || strings.Contains(errOut, "witness") {
			t.Fatalf("add %d: exit %d\n%s%s", i, code, out, errOut)
		}
		if i == 1 {
			kept = map[string]bool{}
			for _, v := range s.versions(t) {
				kept[v] = true
			}
		}
	}
	if out, errOut, code := run(t, "-c", s.cfg, "verify", "--no-ledger"); code != 0 {
		t.Fatalf("untouched witnessed store: exit %d\n%s%s", code, out, errOut)
	}

	// The cut: everything stored by the last two seals, every version.
	cut := 0
	for _, v := range s.versions(t) {
		if kept[v] {
			continue
		}
		k, id, _ := strings.Cut(strings.TrimSuffix(v, " (marker)"), "?versionId=")
		// add --case holds its artifacts; GOVERNANCE lets the insider lift
		// the hold (on markers and unheld objects this does nothing).
		_, _ = s.s3.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String(s.bucket), Key: aws.String(k), VersionId: aws.String(id),
			LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
		if _, err := s.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k), VersionId: aws.String(id),
			BypassGovernanceRetention: aws.Bool(true)}); err != nil {
			t.Fatalf("delete %s: %v", v, err)
		}
		cut++
	}
	if cut < 4 {
		t.Fatalf("the last two seals stored only %d versions", cut)
	}
	out, errOut, code := run(t, "-c", s.cfg, "verify", "--no-ledger")
	if code != 1 || !strings.Contains(out, "witness-ahead") || !strings.Contains(out, "witness.example/w1") || !strings.Contains(out, "holds 4 manifests") {
		t.Fatalf("truncated tail, fresh machine: exit %d, want 1 naming witness-ahead\n%s%s", code, out, errOut)
	}

	// With no witness readable, nothing is concluded about the end of
	// the streams: verify cannot complete.
	b, _ := os.ReadFile(s.cfg)
	writeConfig(t, s.cfg, strings.Replace(string(b), "bucket: "+wbucket, "bucket: "+testaws.BucketName(t), 1))
	if out, errOut, code := run(t, "-c", s.cfg, "verify", "--no-ledger"); code != 3 || !strings.Contains(errOut, "no witness could be read") {
		t.Fatalf("no readable witness: exit %d, want 3\n%s%s", code, out, errOut)
	}
}

// TestWitnessWithItsOwnCredentials: a witness in another account is
// reached with its own profile, not the store's credentials: with the
// profile's credentials wrong, the copies go unwritten (a warning) and
// verify cannot complete; with them right, the witness cosigns and the
// store verifies. A profile and a role together are a configuration
// error.
func TestWitnessWithItsOwnCredentials(t *testing.T) {
	s := newSafetyStore(t)
	key := filepath.Join(s.dir, "witness.pem")
	if out, errOut, code := run(t, "keygen", "--ed25519", "--out", key); code != 0 {
		t.Fatalf("keygen --ed25519: exit %d\n%s%s", code, out, errOut)
	}
	wbucket := testaws.CreateBucket(t, s.env.ReplicaS3(t), testaws.BucketOptions{ObjectLock: true, Mode: types.ObjectLockRetentionModeGovernance, Days: 1})
	profiles := filepath.Join(s.dir, "aws-config")
	t.Setenv("AWS_CONFIG_FILE", profiles)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(s.dir, "aws-credentials"))
	setProfile := func(secret string) {
		writeConfig(t, profiles, fmt.Sprintf("[profile witness-account]\naws_access_key_id = %s\naws_secret_access_key = %s\nregion = %s\n",
			s.env.AccessKey, secret, s.env.ReplicaRegion))
	}
	base, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	witness := fmt.Sprintf(`witnesses:
  - name: witness.example/w2
    bucket: %s
    region: %s
    endpoint: %s
    profile: witness-account
    key: file://%s
    public: file://%s
`, wbucket, s.env.ReplicaRegion, s.env.ReplicaEndpoint, key, strings.TrimSuffix(key, ".pem")+".pub")
	writeConfig(t, s.cfg, string(base)+witness)

	setProfile("not-the-secret")
	if out, errOut, code := run(t, "-c", s.cfg, "add", "--case", "IR-2", s.file(t, "a.txt", "a")); code != 0 || !strings.Contains(errOut, "witness") {
		t.Fatalf("add with the witness's profile wrong: exit %d, want 0 with a warning naming the witness\n%s%s", code, out, errOut)
	}
	if out, errOut, code := run(t, "-c", s.cfg, "verify", "--no-ledger"); code != 3 || !strings.Contains(errOut, "no witness could be read") {
		t.Fatalf("verify with the witness's profile wrong: exit %d, want 3\n%s%s", code, out, errOut)
	}

	setProfile(s.env.SecretKey)
	if out, errOut, code := run(t, "-c", s.cfg, "add", "--case", "IR-2", s.file(t, "b.txt", "b")); code != 0 || strings.Contains(errOut, "witness") {
		t.Fatalf("add with the witness's own profile: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := run(t, "-c", s.cfg, "verify", "--no-ledger"); code != 0 {
		t.Fatalf("verify with the witness's own profile: exit %d\n%s%s", code, out, errOut)
	}

	writeConfig(t, s.cfg, string(base)+strings.Replace(witness, "    profile: witness-account\n", "    profile: witness-account\n    role_arn: arn:aws:iam::444455556666:role/witness\n", 1))
	if out, errOut, code := run(t, "-c", s.cfg, "config", "check"); code != 2 || !strings.Contains(out+errOut, "profile and role_arn are alternatives") {
		t.Fatalf("profile and role_arn: exit %d\n%s%s", code, out, errOut)
	}
}
