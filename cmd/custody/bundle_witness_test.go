package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/internal/testaws"
)

// TestBundleWitnessCopiesThroughTheBinary: a store with a witness on the
// replica server (custody keygen --ed25519); a case exported through the
// real binary carries the witness's cosigned copy, and verify --bundle
// with the signer's key id and the witness's public key exits 0; without
// the witness key it warns naming the witness; with a copy altered in the
// package, or another witness key, it exits 1.
func TestBundleWitnessCopiesThroughTheBinary(t *testing.T) {
	s := newSafetyStore(t)
	bin := binRun{env: []string{"CUSTODY_KEY_PASSPHRASE=test passphrase"}}
	const name = "witness.example/w1"
	key := filepath.Join(s.dir, "witness.pem")
	other := filepath.Join(s.dir, "other-witness.pem")
	for _, k := range []string{key, other} {
		if out, errOut, code := bin.run(t, "keygen", "--ed25519", "--out", k); code != 0 {
			t.Fatalf("keygen --ed25519: exit %d\n%s%s", code, out, errOut)
		}
	}
	pub := strings.TrimSuffix(key, ".pem") + ".pub"
	wbucket := testaws.CreateBucket(t, s.env.ReplicaS3(t), testaws.BucketOptions{ObjectLock: true, Mode: types.ObjectLockRetentionModeGovernance, Days: 1})
	cfg, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeConfig(t, s.cfg, string(cfg)+fmt.Sprintf(`witnesses:
  - name: %s
    bucket: %s
    region: %s
    endpoint: %s
    key: file://%s
    public: file://%s
`, name, wbucket, s.env.ReplicaRegion, s.env.ReplicaEndpoint, key, pub))
	for i, caseID := range []string{"OTHER", "IR-9", "OTHER", "IR-9"} {
		if out, errOut, code := bin.run(t, "-c", s.cfg, "add", "--case", caseID, s.file(t, fmt.Sprintf("note-%d.txt", i), fmt.Sprint(i))); code != 0 || strings.Contains(errOut, "witness") {
			t.Fatalf("add %d: exit %d\n%s%s", i, code, out, errOut)
		}
	}
	pkg := filepath.Join(t.TempDir(), "IR-9.tar.gz")
	out, errOut, code := bin.run(t, "-c", s.cfg, "--json", "export", "--case", "IR-9", "--out", pkg)
	var exp struct {
		OK          bool
		SignerKeyID string
	}
	if err := json.Unmarshal([]byte(out), &exp); err != nil || code != 0 || !exp.OK {
		t.Fatalf("export: exit %d %v\n%s%s", code, err, out, errOut)
	}
	p := readPackage(t, pkg)
	var copyFile string
	for _, f := range p.Files() {
		if strings.HasPrefix(f, "witnesses/") && strings.HasSuffix(f, "/"+s.stream+".checkpoint") {
			copyFile = f
		}
	}
	if copyFile == "" || !p.Has("witness-keys/witness.example-w1.pub") {
		t.Fatalf("the package carries no witness copy of stream %s and key: %v", s.stream, p.Files())
	}

	verify := func(pkg string, args ...string) (string, string, int) {
		t.Helper()
		return bin.run(t, append([]string{"verify", "--bundle", pkg, "--key-id", exp.SignerKeyID}, args...)...)
	}
	if out, errOut, code := verify(pkg, "--witness-key", name+"="+pub); code != 0 || strings.Contains(out, "witness-") {
		t.Fatalf("genuine package, witness pinned: exit %d, want 0 without witness findings\n%s%s", code, out, errOut)
	}
	if out, errOut, code := verify(pkg); code != 0 || !strings.Contains(out, "WARNING witness-not-pinned") || !strings.Contains(out, "witness "+name+" is not pinned") {
		t.Fatalf("genuine package, witness not pinned: exit %d, want 0 with a warning naming the witness\n%s%s", code, out, errOut)
	}
	if out, errOut, code := verify(pkg, "--witness-key", name+"="+strings.TrimSuffix(other, ".pem")+".pub"); code != 1 || !strings.Contains(out, "witness-invalid") {
		t.Fatalf("genuine package, another witness key: exit %d, want 1 with witness-invalid\n%s%s", code, out, errOut)
	}
	if out, errOut, code := verify(pkg, "--witness-key", name); code != 2 || !strings.Contains(errOut, "NAME=FILE") {
		t.Fatalf("--witness-key without a file: exit %d, want 2\n%s%s", code, out, errOut)
	}

	// The copy altered in the package: another size, the signatures kept.
	body, _ := p.Get(copyFile)
	lines := bytes.SplitN(body, []byte("\n"), 3)
	p.Set(copyFile, bytes.Join([][]byte{lines[0], []byte("1"), lines[2]}, []byte("\n")))
	if out, errOut, code := verify(writePackage(t, p), "--witness-key", name+"="+pub); code != 1 || !strings.Contains(out, copyFile) {
		t.Fatalf("altered witness copy: exit %d, want 1 naming %s\n%s%s", code, copyFile, out, errOut)
	}
}
