package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/internal/config"
)

// testDeps are deps for calling a runX directly, without cobra: JSON out,
// the given configuration and environment.
func testDeps(cfg func() (config.Config, error), env map[string]string) (deps, *bytes.Buffer) {
	var out bytes.Buffer
	return deps{stdout: &out, stderr: &bytes.Buffer{}, json: true, now: time.Now,
		getenv: func(k string) string { return env[k] }, config: cfg, configGiven: func() bool { return false }}, &out
}

// TestCommandsRunWithoutCobra runs add, verify and export as functions of
// their options and deps against the stand-ins: the commands' logic needs
// no cobra, no flags and no process environment.
func TestCommandsRunWithoutCobra(t *testing.T) {
	ctx := context.Background()
	s := newSafetyStore(t)
	cfg, err := cli.LoadConfig(cli.ConfigSource{File: s.cfg})
	if err != nil {
		t.Fatal(err)
	}
	loaded := func() (config.Config, error) { return cfg, nil }
	notNeeded := func() (config.Config, error) {
		t.Error("the configuration was loaded before the arguments were checked")
		return config.Config{}, errors.New("not needed")
	}

	// Arguments are checked before the configuration is loaded.
	d, _ := testDeps(notNeeded, nil)
	if err := runAdd(ctx, addOptions{files: []string{"x"}}, d); !errors.As(err, new(cli.UsageError)) || err.Error() != "--case is required" {
		t.Fatalf("add without --case: %v", err)
	}
	if err := runAdd(ctx, addOptions{caseID: "IR-5", files: []string{filepath.Join(s.dir, "missing")}}, d); !errors.As(err, new(cli.UsageError)) {
		t.Fatalf("add of a missing file: %v", err)
	}

	d, out := testDeps(loaded, nil)
	if err := runAdd(ctx, addOptions{caseID: "IR-5", note: "notes", files: []string{s.file(t, "notes.md", "# notes")}}, d); err != nil {
		t.Fatal(err)
	}
	var added addResult
	if err := json.Unmarshal(out.Bytes(), &added); err != nil || added.Sequence != 1 || len(added.Artifacts) != 1 ||
		!strings.Contains(added.Artifacts[0].Key, "/cases/IR-5/") || added.Artifacts[0].Kind != "file" {
		t.Fatalf("add: %+v, %v\n%s", added, err, out)
	}

	// Without a trust list, verify trusts the signer's own key: with no
	// .pub beside it, opened with the passphrase from deps' environment.
	noTrust := cfg
	noTrust.Trust = nil
	if err := os.Remove(filepath.Join(s.dir, "signing.pub")); err != nil {
		t.Fatal(err)
	}
	d, out = testDeps(func() (config.Config, error) { return noTrust, nil }, map[string]string{"CUSTODY_KEY_PASSPHRASE": "test passphrase"})
	if err := runVerify(ctx, verifyOptions{caseID: "IR-5", concurrency: 4}, d); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	var report struct {
		OK   bool `json:"ok"`
		Keys []struct {
			Name string `json:"name"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(out.Bytes(), &report); err != nil || !report.OK || len(report.Keys) != 1 || report.Keys[0].Name != "signer" {
		t.Fatalf("verify: %+v, %v\n%s", report, err, out)
	}
	d, _ = testDeps(func() (config.Config, error) { return noTrust, nil }, nil)
	if err := runVerify(ctx, verifyOptions{caseID: "IR-5", concurrency: 4}, d); err == nil || !strings.Contains(err.Error(), "no trust list configured") {
		t.Fatalf("verify without a passphrase in deps' environment: %v", err)
	}

	d, out = testDeps(func() (config.Config, error) { return noTrust, nil }, map[string]string{"CUSTODY_KEY_PASSPHRASE": "test passphrase"})
	pkg := filepath.Join(s.dir, "IR-5.tar.gz")
	if err := runExport(ctx, exportOptions{verifyOptions: verifyOptions{caseID: "IR-5", concurrency: 4}, out: pkg}, d); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	var exported struct {
		OK    bool   `json:"ok"`
		Event string `json:"event"`
	}
	if err := json.Unmarshal(out.Bytes(), &exported); err != nil || !exported.OK || !strings.Contains(exported.Event, "/manifests/") {
		t.Fatalf("export: %+v, %v\n%s", exported, err, out)
	}
	if _, err := os.Stat(pkg); err != nil {
		t.Fatal(err)
	}
	if n := s.manifests(t); n != 2 {
		t.Fatalf("add and export are %d manifests, want 2", n)
	}
	// The export's records are an event's: under the stream's events/.
	var records []string
	for _, v := range s.versions(t) {
		if strings.Contains(v, "/events/"+s.stream+"/") {
			records = append(records, v)
		}
	}
	all := strings.Join(records, " ")
	if len(records) != 5 {
		t.Fatalf("export records: %v", records)
	}
	for _, name := range []string{"package.json", "SHA256SUMS", "index.json", "report.json", "chain-of-custody.md"} {
		if !strings.Contains(all, "/"+name+"?") {
			t.Fatalf("export records lack the package's %s: %v", name, records)
		}
	}

	d, out = testDeps(notNeeded, nil)
	if err := runVersion(ctx, versionOptions{}, d); err != nil || !strings.Contains(out.String(), `"version"`) {
		t.Fatalf("version: %v\n%s", err, out)
	}
}
