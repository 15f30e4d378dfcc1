package cli

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/custody-ir/custody/custody/config"
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
