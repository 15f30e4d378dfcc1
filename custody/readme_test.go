package custody

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// shBlocks returns the README's fenced sh blocks, in order, and fails the
// test on a fence left open.
func shBlocks(t *testing.T, readme string) []string {
	t.Helper()
	var blocks []string
	var cur []string
	in := false
	for _, line := range strings.Split(readme, "\n") {
		switch {
		case !in && line == "```sh":
			in, cur = true, nil
		case in && line == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
		case in:
			cur = append(cur, line)
		}
	}
	if in {
		t.Fatalf("README: a ```sh block is not closed")
	}
	return blocks
}

func readmeReport(bucket string, ok bool, keys ...KeyRecord) *Report {
	return &Report{OK: ok, Bucket: bucket, Prefix: "custody", VerifiedAt: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), Keys: keys}
}

// TestRecipientReadmeText checks the README's commands as text: one
// script in sh blocks, the signer pinned first by a key id set by the
// recipient, every later step in the order the brief gives, nothing of
// the package baked in, and valid bash.
func TestRecipientReadmeText(t *testing.T) {
	genuine := KeyRecord{Name: "responder", KeyID: strings.Repeat("ab12", 16), PEM: "-----BEGIN PUBLIC KEY-----\n"}
	other := KeyRecord{Name: "auditor", KeyID: strings.Repeat("cd34", 16), PEM: "-----BEGIN PUBLIC KEY-----\n"}
	readme := string(recipientReadme(readmeReport("evidence-1", true, genuine, other), "custody", genuine.KeyID))
	blocks := shBlocks(t, readme)
	if len(blocks) < 5 {
		t.Fatalf("README has %d sh blocks, want one per step:\n%s", len(blocks), readme)
	}
	script := strings.Join(blocks, "")

	// Step 1 is the signer, pinned by KEYID before anything else is read.
	first := blocks[0]
	if !strings.HasPrefix(first, "set -euo pipefail\n") {
		t.Errorf("the first block does not start with set -euo pipefail:\n%s", first)
	}
	for _, want := range []string{`"${KEYID:?`, `for k in keys/*.pub`, `openssl pkey -pubin -in "$k" -outform DER | sha256sum`, `= "$KEYID"`, "exit 1", "mktemp -d"} {
		if !strings.Contains(first, want) {
			t.Errorf("step 1 lacks %q:\n%s", want, first)
		}
	}
	if strings.Contains(first, "sha256sum -c") || strings.Contains(first, "package.json") {
		t.Errorf("step 1 reads the package before the signer is pinned:\n%s", first)
	}
	// The recipient sets KEYID; the script never assigns it a value of
	// its own (only its normalised form).
	for _, line := range strings.Split(script, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "KEYID=") && !strings.Contains(line, "$KEYID") && !strings.Contains(line, "${KEYID") {
			t.Errorf("the script sets KEYID itself: %q", line)
		}
	}

	// Every step, in order.
	order := []string{
		`openssl pkey -pubin -in "$k" -outform DER | sha256sum`,
		"sha256sum -c SHA256SUMS",
		"dsse_payload package.dsse.json",
		`"package.json", "SHA256SUMS", "index.json", "report.json", "chain-of-custody.md"`,
		`.verdict.ok == true`,
		`.manifests[] | [.file, .stream, (.sequence | tostring), (.selected | tostring)]`,
		`dsse_payload "$file"`,
		`--slurpfile f "$tmp/files.json"`,
		`cosign=${COSIGN:-cosign}`,
		`if command -v "$cosign"`,
		`--signature package.dsse.json SHA256SUMS`,
		`--key "$key" --type https://github.com/custody-ir/custody/manifest/v1 --signature "$file" "$blob"`,
		`.streams[] | select(.first > 0)`,
		"previousEnvelopeSha256",
		`"$prev" != "$headsha"`,
		`custody verify --bundle "$pkg" --key-id "$KEYID"`,
	}
	at := 0
	for _, want := range order {
		i := strings.Index(script[at:], want)
		if i < 0 {
			t.Fatalf("the script lacks %q after offset %d (or has it out of order):\n%s", want, at, script)
		}
		at += i + len(want)
	}
	// Signatures are checked with the pinned key only, never with a file
	// of keys/ named in the script.
	for _, cmd := range []string{"openssl dgst", "verify-blob-attestation"} {
		for _, line := range strings.Split(script, "\n") {
			if strings.Contains(line, cmd) && !strings.Contains(line, `"$key"`) {
				t.Errorf("%s without the pinned key: %q", cmd, line)
			}
		}
	}
	// The manifest signature loop covers every manifest: it does not
	// filter on .selected in jq.
	if strings.Contains(script, "select(.selected") {
		t.Errorf("a loop selects manifests in jq; every manifest's signature must be checked")
	}

	// Nothing of this package is baked into the commands: no key file
	// names, key names or ids, no bucket, no placeholders but $KEYID.
	for _, k := range []KeyRecord{genuine, other} {
		for _, s := range []string{keyFileName(k), k.Name, k.KeyID, k.KeyID[:12]} {
			if strings.Contains(script, s) {
				t.Errorf("the script names %q of key %s", s, k.Name)
			}
		}
		if strings.Contains(readme, k.KeyID) || strings.Contains(readme, keyFileName(k)) {
			t.Errorf("the README holds key %s's whole id or file name", k.Name)
		}
	}
	if strings.Contains(script, "evidence-1") {
		t.Errorf("the script names the bucket")
	}
	if m := regexp.MustCompile(`<[A-Za-z][^>]*>`).FindAllString(script, -1); len(m) > 0 {
		t.Errorf("the script has placeholders %q", m)
	}
	if strings.Contains(readme, "~") {
		t.Errorf("a ~ was left where a backquote was meant")
	}

	// The commands are the same for every package: a recipient can
	// compare them with those of a package they trust.
	again := string(recipientReadme(readmeReport("another-bucket", false), "other/prefix", strings.Repeat("0", 64)))
	if got := strings.Join(shBlocks(t, again), ""); got != script {
		t.Errorf("the commands depend on the package")
	}

	// What the recipient must know: where the id comes from, and what
	// each check proves.
	for _, want := range []string{"another channel", "phone", "signed letter", "case file", "custody export", "signer key id",
		"## What each check proves", "prove nothing by themselves", "| 2. SHA256SUMS |", "| 6. the chain |"} {
		if !strings.Contains(readme, want) {
			t.Errorf("the README lacks %q", want)
		}
	}

	out, err := exec.Command("bash", "-n", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}

	// The sed line the README gives to save the script extracts exactly
	// the sh blocks.
	var sed string
	for _, line := range strings.Split(readme, "\n") {
		if strings.HasPrefix(line, "sed -n ") {
			sed = line
		}
	}
	if sed == "" {
		t.Fatalf("the README does not say how to save its commands as a script")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(readme), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", strings.ReplaceAll(sed, ` > "$script"`, ""))
	cmd.Dir = dir
	got, err := cmd.Output()
	if err != nil || string(got) != script {
		t.Errorf("the README's %q does not extract its sh blocks: %v\n%s", sed, err, got)
	}
}

// TestRecipientReadmeStep1 runs the README's first block in a folder that
// holds only keys/: it pins the key whose DER hashes to KEYID, whatever
// the file's name, and stops with a clear message when none does.
func TestRecipientReadmeStep1(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "package.dsse.json"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, name := range []string{"responder-000000000000.pub", "other.pub"} {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "keys", name), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		id, err := KeyID(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	step1 := shBlocks(t, string(recipientReadme(readmeReport("b", true), "custody", ids[0])))[0]
	runIn := func(dir, keyID string) (string, string, error) {
		cmd := exec.Command("bash", "-c", step1+`echo "pinned=$key"`+"\n")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "KEYID="+keyID)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	run := func(keyID string) (string, string, error) { return runIn(dir, keyID) }

	// The second key, given in upper case with colons, as people paste.
	pretty := strings.ToUpper(ids[1][:2] + ":" + ids[1][2:])
	out, errOut, err := run(pretty)
	if err != nil || !strings.Contains(out, "1. signer pinned: key id "+ids[1]) || !strings.Contains(out, "pinned=") || !strings.Contains(out, "signer.pub") {
		t.Fatalf("step 1 with the id of keys/other.pub: %v\n%s%s", err, out, errOut)
	}
	for _, id := range ids {
		if !strings.Contains(out, id) {
			t.Errorf("step 1 does not print the key id %s it computed", id)
		}
	}

	wrong := strings.Repeat("0", 64)
	out, errOut, err = run(wrong)
	if err == nil || !strings.Contains(errOut, "FAILED: no key in keys/ has the key id "+wrong) || strings.Contains(out, "pinned=") {
		t.Fatalf("step 1 with an id no key has: %v\n%s%s", err, out, errOut)
	}
	// Run elsewhere than in a package's folder: said so, not "no key".
	if out, errOut, err := runIn(t.TempDir(), ids[0]); err == nil || !strings.Contains(errOut, "run these commands from the package's folder") {
		t.Errorf("step 1 outside a package: %v\n%s%s", err, out, errOut)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("g", 64)} {
		if out, errOut, err := run(bad); err == nil || strings.Contains(out, "pinned=") {
			t.Errorf("step 1 with KEYID=%q passed:\n%s%s", bad, out, errOut)
		}
	}
}
