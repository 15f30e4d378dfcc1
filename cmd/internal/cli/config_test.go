package cli

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/custody-ir/custody/internal/config"
)

func testdata(name string) string { return filepath.Join("..", "..", "..", "testdata", "config", name) }

func TestPrecedenceFlagsEnvFileDefaults(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("bucket", "", "")
	bind := map[string]string{"store.bucket": "bucket"}
	src := ConfigSource{File: testdata("minimal.yaml"), Flags: fs, Bindings: bind}

	cfg, err := LoadConfig(src)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Bucket != "file-bucket" {
		t.Errorf("file: bucket = %q", cfg.Store.Bucket)
	}
	if cfg.Store.Retention.Mode != config.ModeCompliance || cfg.Store.Retention.Days != 2557 || cfg.Store.Prefix != "custody" {
		t.Errorf("defaults not applied: %+v", cfg.Store)
	}
	if cfg.Agent.Stream == "" {
		t.Error("agent.stream has no default")
	}

	t.Setenv("CUSTODY_STORE_BUCKET", "env-bucket")
	t.Setenv("CUSTODY_STORE_RETENTION_DAYS", "30")
	cfg, err = LoadConfig(src)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Bucket != "env-bucket" || cfg.Store.Retention.Days != 30 {
		t.Errorf("env: bucket = %q, days = %d", cfg.Store.Bucket, cfg.Store.Retention.Days)
	}

	if err := fs.Set("bucket", "flag-bucket"); err != nil {
		t.Fatal(err)
	}
	cfg, err = LoadConfig(src)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Bucket != "flag-bucket" {
		t.Errorf("flag: bucket = %q", cfg.Store.Bucket)
	}
}

func TestConfigFileResolution(t *testing.T) {
	t.Setenv("CUSTODY_CONFIG", testdata("minimal.yaml"))
	cfg, err := LoadConfig(ConfigSource{})
	if err != nil || cfg.Store.Bucket != "file-bucket" {
		t.Fatalf("CUSTODY_CONFIG not used: %+v, %v", cfg.Store, err)
	}
	_, err = LoadConfig(ConfigSource{File: filepath.Join(t.TempDir(), "missing.yaml")})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing explicit file: %v", err)
	}
}

func TestInvalidConfigsNameTheField(t *testing.T) {
	cases := map[string]string{
		"typo.yaml":           "schedules.cloudtrial",
		"bad-cron.yaml":       "schedules.versions",
		"zero-retention.yaml": "store.retention.days",
		"bad-kms.yaml":        "signer.key",
	}
	for file, field := range cases {
		_, err := LoadConfig(ConfigSource{File: testdata(file)})
		var ps config.Problems
		if !errors.As(err, &ps) {
			t.Errorf("%s: err = %v, want config.Problems", file, err)
			continue
		}
		found := false
		for _, p := range ps {
			if p.Path == field {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: problems %v do not name %s", file, ps, field)
		}
	}
}

func TestMalformedYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.yaml")
	writeFile(t, path, "store:\n  bucket: [unclosed\n")
	_, err := LoadConfig(ConfigSource{File: path})
	var ps config.Problems
	if !errors.As(err, &ps) || !strings.Contains(ps.Error(), "not valid YAML") {
		t.Fatalf("malformed YAML: %v", err)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	if _, err := LoadConfig(ConfigSource{File: filepath.Join("..", "..", "..", "configs", "agent.example.yaml")}); err != nil {
		t.Fatal(err)
	}
}

func TestProblemsSayWhereTheValueCameFrom(t *testing.T) {
	problemAt := func(t *testing.T, err error, path string) config.Problem {
		t.Helper()
		var ps config.Problems
		if !errors.As(err, &ps) {
			t.Fatalf("err = %v, want config.Problems", err)
		}
		for _, p := range ps {
			if p.Path == path {
				return p
			}
		}
		t.Fatalf("no problem at %s in %v", path, ps)
		return config.Problem{}
	}

	// The file.
	file := testdata("zero-retention.yaml")
	_, err := LoadConfig(ConfigSource{File: file})
	if p := problemAt(t, err, "store.retention.days"); p.Source != file || !strings.Contains(err.Error(), "store.retention.days (from "+file+"): ") {
		t.Errorf("from the file: %+v\n%v", p, err)
	}

	// The environment, over the file; a value that does not decode too.
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("bucket", "", "")
	src := ConfigSource{File: testdata("minimal.yaml"), Flags: fs, Bindings: map[string]string{"store.bucket": "bucket"}}
	t.Setenv("CUSTODY_STORE_RETENTION_DAYS", "0")
	t.Setenv("CUSTODY_STORE_BUCKET", "Not_A_Bucket")
	_, err = LoadConfig(src)
	if !strings.Contains(err.Error(), "store.retention.days (from CUSTODY_STORE_RETENTION_DAYS): ") ||
		!strings.Contains(err.Error(), "store.bucket (from CUSTODY_STORE_BUCKET): ") {
		t.Errorf("from the environment:\n%v", err)
	}
	t.Setenv("CUSTODY_STORE_RETENTION_DAYS", "seven")
	_, err = LoadConfig(src)
	if p := problemAt(t, err, "store.retention.days"); p.Source != "CUSTODY_STORE_RETENTION_DAYS" || !strings.Contains(p.Message, `got "seven"`) {
		t.Errorf("an undecodable value from the environment: %+v", p)
	}

	// A flag, over the environment.
	if err := fs.Set("bucket", "Also_Not_A_Bucket"); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(src)
	if p := problemAt(t, err, "store.bucket"); p.Source != "--bucket" || !strings.Contains(err.Error(), "store.bucket (from --bucket): ") {
		t.Errorf("from a flag: %+v\n%v", p, err)
	}

	// Nothing set it.
	t.Setenv("CUSTODY_STORE_RETENTION_DAYS", "")
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	writeFile(t, empty, "ledger: l.db\n")
	_, err = LoadConfig(ConfigSource{File: empty})
	if p := problemAt(t, err, "signer.key"); p.Source != "" || p.String() != "signer.key: "+p.Message {
		t.Errorf("not set: %+v", p)
	}
	if p := (config.Problem{Path: "store.retention.mode", Message: "m", Source: config.SourceDefault}); p.String() != "store.retention.mode (the default): m" {
		t.Errorf("a default: %s", p)
	}
}

func TestNoConfigFileSaysWhereItLooked(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("CUSTODY_CONFIG", "")
	_, err := LoadConfig(ConfigSource{})
	var ps config.Problems
	if !errors.As(err, &ps) || ps[0].Path != "(config file)" {
		t.Fatalf("no file anywhere: %v", err)
	}
	for _, want := range []string{"--config", "$CUSTODY_CONFIG", "./custody.yaml"} {
		if !strings.Contains(ps[0].Message, want) {
			t.Errorf("does not name %s: %s", want, ps[0])
		}
	}
	// The environment alone may be the whole configuration.
	t.Setenv("CUSTODY_STORE_BUCKET", "env-bucket")
	t.Setenv("CUSTODY_SIGNER_KEY", "file:///etc/custody/key.pem")
	if cfg, err := LoadConfig(ConfigSource{}); err != nil || cfg.Store.Bucket != "env-bucket" {
		t.Fatalf("configuration from the environment alone: %v", err)
	}

	// A file named by $CUSTODY_CONFIG that is not there is a usage error
	// naming the variable.
	t.Setenv("CUSTODY_CONFIG", "missing.yaml")
	_, err = LoadConfig(ConfigSource{})
	var usage UsageError
	if !errors.As(err, &usage) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml (named by $CUSTODY_CONFIG)") {
		t.Fatalf("missing $CUSTODY_CONFIG file: %v", err)
	}
}
