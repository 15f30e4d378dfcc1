package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// minimalConfig is a valid configuration whose ledger is in dir.
func minimalConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "custody.yaml")
	writeConfig(t, path, fmt.Sprintf("ledger: %s/ledger.db\nstore:\n  bucket: evidence\nsigner:\n  key: file://%s/key.pem\n%s", dir, dir, extra))
	return path
}

func TestContractConfigExitCodes(t *testing.T) {
	var r binRun
	missing := filepath.Join(t.TempDir(), "missing.yaml")

	_, errOut, code := r.run(t, "--config", missing, "pubkey")
	if code != 2 || !strings.Contains(errOut, missing+" (named by --config)") {
		t.Errorf("--config naming a missing file: exit %d, want 2\n%s", code, errOut)
	}
	_, errOut, code = binRun{env: []string{"CUSTODY_CONFIG=" + missing}}.run(t, "pubkey")
	if code != 2 || !strings.Contains(errOut, missing+" (named by $CUSTODY_CONFIG)") {
		t.Errorf("$CUSTODY_CONFIG naming a missing file: exit %d, want 2\n%s", code, errOut)
	}
	_, errOut, code = r.run(t, "config", "check", missing)
	if code != 2 || !strings.Contains(errOut, "is not a valid configuration") {
		t.Errorf("config check of a missing file: exit %d, want 2\n%s", code, errOut)
	}

	// No --config, no $CUSTODY_CONFIG, no ./custody.yaml: say where.
	empty := t.TempDir()
	for _, args := range [][]string{{"pubkey"}, {"verify"}, {"ledger", "info"}} {
		_, errOut, code := binRun{dir: empty}.run(t, args...)
		if code != 2 {
			t.Errorf("%s with no configuration: exit %d, want 2\n%s", args, code, errOut)
		}
		for _, want := range []string{"--config was not given", "$CUSTODY_CONFIG is not set", "no ./custody.yaml in " + empty} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s with no configuration does not say %q:\n%s", args, want, errOut)
			}
		}
	}

	// Every problem says where its value came from.
	dir := t.TempDir()
	cfg := minimalConfig(t, dir, "")
	_, errOut, code = binRun{env: []string{"CUSTODY_STORE_RETENTION_DAYS=0"}}.run(t, "--config", cfg, "pubkey")
	if code != 2 || !strings.Contains(errOut, "store.retention.days (from CUSTODY_STORE_RETENTION_DAYS): ") {
		t.Errorf("a bad value from the environment: exit %d\n%s", code, errOut)
	}
	_, errOut, code = r.run(t, "--config", cfg, "store", "check", "--bucket", "Not_A_Bucket")
	if code != 2 || !strings.Contains(errOut, "store.bucket (from --bucket): ") {
		t.Errorf("a bad value from a flag: exit %d\n%s", code, errOut)
	}
	bad := minimalConfig(t, t.TempDir(), "agent: {listen: nowhere}\n")
	out, _, code := r.run(t, "--json", "config", "check", bad)
	var res configCheckResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 2 || len(res.Problems) != 1 || res.Problems[0].Source != bad {
		t.Errorf("a bad value from the file: exit %d, %+v, %v", code, res, err)
	}
}

func TestContractKeygenNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	r := binRun{dir: dir, env: []string{"CUSTODY_KEY_PASSPHRASE=pass"}}
	key := filepath.Join(dir, "k.pem")
	writeConfig(t, key, "an old key")
	_, errOut, code := r.run(t, "keygen", "--out", key)
	if code != 2 || !strings.Contains(errOut, key+" exists") {
		t.Errorf("keygen onto a key: exit %d, want 2 naming it\n%s", code, errOut)
	}
	if b, _ := os.ReadFile(key); string(b) != "an old key" {
		t.Errorf("the key was overwritten: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "k.pub")); err == nil {
		t.Error("a public key was written beside the refused key")
	}

	// Only the public key in the way: refused before writing anything.
	key2 := filepath.Join(dir, "k2.pem")
	writeConfig(t, filepath.Join(dir, "k2.pub"), "an old public key")
	_, errOut, code = r.run(t, "keygen", "--out", key2)
	if code != 2 || !strings.Contains(errOut, filepath.Join(dir, "k2.pub")+" exists") {
		t.Errorf("keygen onto a public key: exit %d, want 2 naming it\n%s", code, errOut)
	}
	if _, err := os.Stat(key2); err == nil {
		t.Error("a private key was left without its public key")
	}
	_, errOut, code = r.run(t, "keygen", "--out", filepath.Join(dir, "k3.pub"))
	if code != 2 || !strings.Contains(errOut, "not ending in .pub") {
		t.Errorf("keygen --out x.pub: exit %d, want 2\n%s", code, errOut)
	}
	if out, errOut, code := r.run(t, "keygen", "--out", filepath.Join(dir, "new.pem")); code != 0 {
		t.Errorf("keygen of a new key: exit %d\n%s%s", code, out, errOut)
	}
}

func TestContractLedgerInfo(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	// No configuration at all is needed with --ledger.
	out, errOut, code := binRun{dir: dir}.run(t, "--json", "ledger", "info", "--ledger", path)
	var res ledgerInfoResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || res.Path != path || res.Schema < 2 || len(res.Tables) == 0 {
		t.Fatalf("ledger info --ledger without a configuration: exit %d, %+v, %v\n%s%s", code, res, err, out, errOut)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the new ledger's mode: %v, %v", st.Mode(), err)
	}

	notDB := filepath.Join(dir, "notes.db")
	writeConfig(t, notDB, strings.Repeat("not a database\n", 100))
	_, errOut, code = binRun{dir: dir}.run(t, "ledger", "info", "--ledger", notDB)
	if code != 3 {
		t.Errorf("ledger info of a file that is not SQLite: exit %d, want 3", code)
	}
	for _, want := range []string{notDB, "only an index", "rebuilt from the bucket", "custody verify --no-ledger"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("a ledger that is not SQLite: the error does not say %q:\n%s", want, errOut)
		}
	}
}

func TestContractPostureDiffOfAnUnmonitoredBucket(t *testing.T) {
	dir := t.TempDir()
	cfg := minimalConfig(t, dir, `sources:
  accounts:
    - id: "123456789012"
      regions: [us-east-1]
      buckets: [watched-one, watched-two]
`)
	var r binRun
	out, errOut, code := r.run(t, "--config", cfg, "posture", "diff", "--bucket", "elsewhere", "--since", "7d")
	if code != 3 || strings.Contains(out, "no changes") {
		t.Errorf("posture diff of an unmonitored bucket: exit %d, want 3\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"s3://elsewhere is not monitored", "watched-one, watched-two"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("posture diff of an unmonitored bucket does not say %q:\n%s", want, errOut)
		}
	}
	out, errOut, code = r.run(t, "--config", cfg, "--json", "posture", "diff", "--bucket", "watched-two", "--since", "7d")
	if code != 3 || !strings.Contains(errOut, "s3://watched-two is monitored but") || !strings.Contains(errOut, "collect --once --collector posture") {
		t.Errorf("posture diff of a bucket not collected yet: exit %d, want 3\n%s", code, errOut)
	}
	requireIncomplete(t, out, "s3://watched-two is monitored but")
}

func TestContractVersionAndRecoverHint(t *testing.T) {
	var r binRun
	flag, _, code := r.run(t, "--version")
	if code != 0 || !strings.HasPrefix(flag, "custody ") {
		t.Fatalf("--version: exit %d, %q", code, flag)
	}
	sub, _, code := r.run(t, "version")
	if code != 0 || sub != flag {
		t.Errorf("version: exit %d, %q, want %q", code, sub, flag)
	}
	out, _, code := r.run(t, "version", "--json")
	var v versionResult
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != 0 || v.Version == "" || v.Revision == "" || !strings.Contains(flag, v.Revision) {
		t.Errorf("version --json: exit %d, %+v, %v\n%s", code, v, err, out)
	}

	for _, args := range [][]string{{"recover"}, {"recover", "--bucket", "b", "--since", "36h", "--dry-run"}} {
		out, errOut, code := r.run(t, args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "separate recover binary") || !strings.Contains(errOut, recoverUsage) {
			t.Errorf("custody %s: exit %d, want 2 pointing at the recover binary\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
}
