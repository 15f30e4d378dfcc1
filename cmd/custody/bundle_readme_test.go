package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/forge"
	"github.com/custody-ir/custody/internal/testaws"
)

// TestBundleReadmeCommandsVerbatim exports a case through the real binary,
// then runs the package README's commands, verbatim, as the recipient
// would: with bash -euo pipefail in the package root, KEYID set to the id
// export printed, sha256sum, openssl and jq, the pinned cosign and the
// custody binary on PATH. They pass on the genuine package; they fail on
// a package forged end to end with another key saved under the genuine
// key's file name, on one that keeps the genuine key file but is signed by
// another, on one whose sums were regenerated without any key, and on the
// genuine package given a wrong key id (at step 1).
func TestBundleReadmeCommandsVerbatim(t *testing.T) {
	s := newSafetyStore(t)
	cosign := testaws.Tool(t, "cosign", testaws.CosignVersion)
	bin := binRun{env: []string{"CUSTODY_KEY_PASSPHRASE=test passphrase"}}

	// A second stream into the same bucket, with the same key: the
	// package then holds two streams.
	cfg, err := os.ReadFile(s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg2 := filepath.Join(s.dir, "custody-2.yaml")
	writeConfig(t, cfg2, strings.NewReplacer("stream: "+s.stream, "stream: responder-2", s.ledger, filepath.Join(s.dir, "ledger-2.db")).Replace(string(cfg)))
	adds := []struct {
		cfg, caseID string
		files       []string
	}{
		{s.cfg, "OTHER", []string{"other-1.txt"}},
		{s.cfg, "IR-7", []string{"notes.txt", "console.png"}},
		{cfg2, "IR-7", []string{"host-memory.txt"}},
		{s.cfg, "IR-7", []string{"timeline.csv"}},
		{s.cfg, "OTHER", []string{"other-2.txt"}},
		{cfg2, "IR-7", []string{"disk-image.txt"}},
		{s.cfg, "IR-7", []string{"interview.txt"}},
	}
	for _, a := range adds {
		args := []string{"-c", a.cfg, "add", "--case", a.caseID}
		for _, f := range a.files {
			args = append(args, s.file(t, f, "evidence "+f+" of "+a.caseID))
		}
		if out, errOut, code := bin.run(t, args...); code != 0 {
			t.Fatalf("add %v: exit %d\n%s%s", a.files, code, out, errOut)
		}
	}

	work := t.TempDir()
	pkg := filepath.Join(work, "IR-7.tar.gz")
	out, errOut, code := bin.run(t, "-c", s.cfg, "--json", "export", "--case", "IR-7", "--out", pkg)
	var exp struct {
		OK          bool
		Artifacts   int
		SignerKeyID string
	}
	if err := json.Unmarshal([]byte(out), &exp); err != nil || code != 0 || !exp.OK || exp.Artifacts != 6 || len(exp.SignerKeyID) != 64 {
		t.Fatalf("export: exit %d %+v %v\n%s%s", code, exp, err, out, errOut)
	}
	keyID := exp.SignerKeyID
	root := untar(t, pkg)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(script, []byte(readmeScript(t, string(readme))), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(root, keyID string) (string, string, error) {
		t.Helper()
		cmd := exec.Command("bash", "-euo", "pipefail", script)
		cmd.Dir = root
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CUSTODY_") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "KEYID=") && !strings.HasPrefix(kv, "PACKAGE=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		// cosign stays off the network: the key is given, the transparency
		// log is not used, and its TUF client, which would fetch Sigstore's
		// trusted root from the internet, is pointed at a loopback mirror it
		// then never calls, having no cached root for it.
		cmd.Env = append(cmd.Env, "KEYID="+keyID, "COSIGN="+cosign, "PATH="+filepath.Dir(custodyBin(t))+string(os.PathListSeparator)+os.Getenv("PATH"),
			"TUF_ROOT="+t.TempDir(), "TUF_MIRROR=http://127.0.0.1:1", "SIGSTORE_NO_CACHE=1", "COSIGN_EXPERIMENTAL=0")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}

	// The genuine package: every step passes, cosign and custody included.
	stdout, stderr, err := check(root, keyID)
	if err != nil {
		t.Fatalf("the README's commands fail on the genuine package: %v\n%s\n%s", err, stdout, stderr)
	}
	for _, want := range []string{
		"1. signer pinned: key id " + keyID,
		"2. every file as listed in SHA256SUMS, none missing, none added",
		"3. package statement signed by " + keyID,
		"selection: case IR-7, since -, until -: check that this is what you asked for",
		"4. 5 manifest(s) signed by " + keyID + ", in s3://" + s.bucket + "; 6 artifact(s) of the selected ones as signed",
		"5. cosign: the statement and 6 artifact(s) verified",
		"6. stream responder-1: 3 manifest(s), each proven in its log of 5 by the signed checkpoint",
		"6. stream responder-2: 2 manifest(s), each proven in its log of 2 by the signed checkpoint",
		"7. custody verify --bundle ../IR-7.tar.gz --key-id " + keyID + ": OK",
		"OK: all evidence",
		"OK: every check passed for the signer " + keyID,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the README's commands on the genuine package do not say %q:\n%s\n%s", want, stdout, stderr)
		}
	}

	// A whole-store export: every manifest selected from the first, the
	// case export's own event among them (its subjects are the records
	// of that export, stored in the bucket).
	full := filepath.Join(t.TempDir(), "all.tar.gz")
	if out, errOut, code := bin.run(t, "-c", cfg2, "export", "--out", full); code != 0 {
		t.Fatalf("export of the whole store: exit %d\n%s%s", code, out, errOut)
	}
	stdout, stderr, err = check(untar(t, full), keyID)
	if err != nil || !strings.Contains(stdout, "4. 8 manifest(s) signed by "+keyID) || !strings.Contains(stdout, "6. stream responder-1: 6 manifest(s), each proven in its log of 6") ||
		!strings.Contains(stdout, "7. custody verify --bundle ../all.tar.gz") || !strings.Contains(stdout, "OK: every check passed") {
		t.Errorf("the README's commands on a whole-store export: %v\n%s\n%s", err, stdout, stderr)
	}

	// The genuine package with an id that is not its signer's: stopped at
	// step 1, before anything of the package is relied on.
	wrong := strings.Repeat("0", 64)
	stdout, stderr, err = check(root, wrong)
	if err == nil || !strings.Contains(stderr, "FAILED: no key in keys/ has the key id "+wrong) || strings.Contains(stdout, "2. every file") {
		t.Errorf("a wrong KEYID is not stopped at step 1: %v\n%s\n%s", err, stdout, stderr)
	}

	genuineKeys := keyFiles(t, root)
	if len(genuineKeys) != 1 {
		t.Fatalf("the package's keys/: %v, want the one signer", genuineKeys)
	}
	forger, err := forge.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	forgerPub, err := forger.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	forgerID, err := custody.KeyID(forgerPub)
	if err != nil {
		t.Fatal(err)
	}
	forged := func(name string, change func(p *forge.Package)) string {
		t.Helper()
		p, err := forge.Read(pkg)
		if err != nil {
			t.Fatal(err)
		}
		// One artifact of a selected manifest gets other bytes.
		ms, err := p.Manifests()
		if err != nil {
			t.Fatal(err)
		}
		var artifact string
		for _, m := range ms {
			if m.Statement.Predicate.Case == "IR-7" {
				files, err := p.SubjectFiles(m)
				if err != nil || len(files) == 0 {
					t.Fatalf("the subjects of %s: %v %v", m.File, files, err)
				}
				artifact = files[0]
				break
			}
		}
		p.Set(artifact, []byte("not what was collected"))
		change(p)
		file := filepath.Join(t.TempDir(), name+".tar.gz")
		if err := p.Write(file); err != nil {
			t.Fatal(err)
		}
		return untar(t, file)
	}

	// The examiner's forgery: every manifest, checkpoint and the package
	// statement re-signed with their key, saved under the genuine key's
	// file name, sums regenerated.
	root = forged("forged", func(p *forge.Package) {
		if err := p.Resign(forger, genuineKeys[0]); err != nil {
			t.Fatal(err)
		}
	})
	if got := keyFiles(t, root); len(got) != 1 || got[0] != genuineKeys[0] {
		t.Fatalf("the forged package's keys/: %v, want the forger's key under %s", got, genuineKeys[0])
	}
	stdout, stderr, err = check(root, keyID)
	if err == nil || !strings.Contains(stderr, "FAILED: no key in keys/ has the key id "+keyID) || strings.Contains(stdout, "2. every file") {
		t.Errorf("the README's commands with the genuine id accept a package re-signed by another key: %v\n%s\n%s", err, stdout, stderr)
	}
	// The forgery is complete: only the pinned id tells it apart. With
	// the forger's id, every standard-tool step passes.
	stdout, stderr, err = check(root, forgerID)
	if !strings.Contains(stdout, "6. stream responder-2") {
		t.Errorf("the forged package does not pass steps 1 to 6 with the forger's own id, so the test above proves less than it says: %v\n%s\n%s", err, stdout, stderr)
	}

	// The same forgery keeping the genuine key file (the forger's key
	// beside it): the genuine key is pinned, and the statement is not
	// signed by it.
	root = forged("forged-beside", func(p *forge.Package) {
		if err := p.Resign(forger, "responder-"+forgerID[:12]+".pub"); err != nil {
			t.Fatal(err)
		}
	})
	stdout, stderr, err = check(root, keyID)
	if err == nil || !strings.Contains(stdout, "1. signer pinned: key id "+keyID) || !strings.Contains(stderr, "FAILED: package.dsse.json is not signed by the key "+keyID) ||
		strings.Contains(stdout, "3. package statement") {
		t.Errorf("the README's commands accept a package signed by a key beside the genuine one: %v\n%s\n%s", err, stdout, stderr)
	}

	// Without any key: the artifact changed and every sum regenerated.
	// SHA256SUMS then agrees with the files, not with the statement.
	root = forged("resummed", func(p *forge.Package) {
		if err := p.Resum(); err != nil {
			t.Fatal(err)
		}
	})
	stdout, stderr, err = check(root, keyID)
	if err == nil || !strings.Contains(stdout, "2. every file as listed") || !strings.Contains(stdout, "SHA256SUMS: FAILED") || strings.Contains(stdout, "3. package statement") {
		t.Errorf("the README's commands accept a package whose sums were regenerated: %v\n%s\n%s", err, stdout, stderr)
	}
}

// readmeScript is the README's fenced sh blocks, in order, as one script.
func readmeScript(t *testing.T, readme string) string {
	t.Helper()
	var b strings.Builder
	in, blocks := false, 0
	for _, line := range strings.Split(readme, "\n") {
		switch {
		case !in && line == "```sh":
			in = true
			blocks++
		case in && line == "```":
			in = false
		case in:
			b.WriteString(line + "\n")
		}
	}
	if in || blocks == 0 {
		t.Fatalf("README.md: %d sh block(s), the last one open: %v\n%s", blocks, in, readme)
	}
	return b.String()
}

// untar extracts a package with tar beside it and returns its root folder.
func untar(t *testing.T, pkg string) string {
	t.Helper()
	dir := filepath.Dir(pkg)
	if out, err := exec.Command("tar", "xzf", pkg, "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar xzf %s: %v\n%s", pkg, err, out)
	}
	roots, err := filepath.Glob(filepath.Join(dir, "custody-export-*"))
	if err != nil || len(roots) != 1 {
		t.Fatalf("the package %s holds %v, want one custody-export-* folder", pkg, roots)
	}
	return roots[0]
}

// keyFiles lists the names in a package's keys/ folder.
func keyFiles(t *testing.T, root string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
