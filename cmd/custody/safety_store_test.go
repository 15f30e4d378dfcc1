package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/testaws"
)

// TestSafetyStoreInitConfirmsCompliance: with COMPLIANCE retention, store
// init says what it means before creating anything and, without a
// terminal, needs --yes (exit 2, nothing created without it). GOVERNANCE
// needs no confirmation.
func TestSafetyStoreInitConfirmsCompliance(t *testing.T) {
	e := testaws.Require(t)
	e.Setenv(t)
	bin := custodyBin(t)
	c := e.S3(t)
	dir := t.TempDir()
	cfgFor := func(mode string) (string, string) {
		bucket := testaws.BucketName(t)
		cfg := filepath.Join(dir, mode+".yaml")
		writeConfig(t, cfg, fmt.Sprintf("ledger: %s/ledger.db\nstore:\n  bucket: %s\n  retention: {mode: %s, days: 3}\nsigner:\n  key: file://%s/key.pem\n", dir, bucket, mode, dir))
		return cfg, bucket
	}
	exists := func(bucket string) bool {
		_, err := c.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
		if err != nil && !awsclient.NotFound(err) {
			t.Fatalf("head bucket %s: %v", bucket, err)
		}
		return err == nil
	}
	runBin := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...) // stdin is /dev/null: no terminal
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
	}

	cfg, bucket := cfgFor("COMPLIANCE")
	out, errOut, code := runBin("-c", cfg, "store", "init")
	if code != cli.ExitUsage || !strings.Contains(errOut, "not even the AWS account's root user") || !strings.Contains(errOut, "for 3 days") || !strings.Contains(errOut, "--yes") {
		t.Fatalf("store init COMPLIANCE without --yes: exit %d, want %d with the warning\n%s%s", code, cli.ExitUsage, out, errOut)
	}
	if exists(bucket) {
		t.Fatal("store init COMPLIANCE without confirmation created the bucket")
	}
	out, errOut, code = runBin("-c", cfg, "store", "init", "--yes")
	if code != 0 || !strings.Contains(out, "created with Object Lock") || !strings.Contains(errOut, "not even the AWS account's root user") {
		t.Fatalf("store init COMPLIANCE --yes: exit %d\n%s%s", code, out, errOut)
	}
	if !exists(bucket) {
		t.Fatal("store init --yes did not create the bucket")
	}

	cfg, bucket = cfgFor("GOVERNANCE")
	out, errOut, code = runBin("-c", cfg, "store", "init")
	if code != 0 || !exists(bucket) || strings.Contains(errOut, "warning") {
		t.Fatalf("store init GOVERNANCE: exit %d\n%s%s", code, out, errOut)
	}
}

// TestSafetyStoreCheckCannotCheck: wrong credentials and an endpoint
// nothing listens on are "could not check" errors with the real cause,
// never findings about the bucket (whose remedies would be wrong).
func TestSafetyStoreCheckCannotCheck(t *testing.T) {
	s := newSafetyStore(t)
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	wrongFindings := []string{"Object Lock is not enabled", "public access block not configured", "versioning is", "remedy", "bucket-versioning", "bucket-object-lock", "bucket-public-access"}
	check := func(name, cause string, args ...string) {
		t.Helper()
		for _, json := range []bool{false, true} {
			a := append([]string{"-c", s.cfg}, args...)
			if json {
				a = append([]string{"--json"}, a...)
			}
			out, errOut, code := run(t, a...)
			if code != cli.ExitIncomplete || !strings.Contains(errOut, "could not check: GetBucketVersioning: ") || !strings.Contains(errOut, cause) {
				t.Errorf("%s (json %v): exit %d, want %d with could not check: GetBucketVersioning: ...%s...\n%s%s", name, json, code, cli.ExitIncomplete, cause, out, errOut)
			}
			if json {
				requireIncomplete(t, out, "could not check: GetBucketVersioning: ", cause)
			} else if out != "" {
				t.Errorf("%s (json %v): a result was printed:\n%s", name, json, out)
			}
			for _, w := range wrongFindings {
				if strings.Contains(out+errOut, w) {
					t.Errorf("%s (json %v): reported as a finding about the bucket (%q):\n%s%s", name, json, w, out, errOut)
				}
			}
		}
	}

	t.Run("wrong secret key", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
		check("wrong secret key", "SignatureDoesNotMatch", "store", "check")
	})
	t.Run("closed port", func(t *testing.T) {
		addr := testaws.FreeAddr(t)
		check("closed port", "connection refused", "store", "check", "--endpoint", "http://"+addr)
	})
	// The store itself still checks clean.
	if out, errOut, code := run(t, "-c", s.cfg, "store", "check"); code != 0 {
		t.Fatalf("store check: exit %d\n%s%s", code, out, errOut)
	}
}
