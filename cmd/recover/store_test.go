package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// evidenceStore makes an evidence bucket as `custody store init` does
// (COMPLIANCE, one day), a signing key, and a configuration that names
// them with this agent's stream; it returns the configuration's file, the
// configuration, and the folder holding the key and the ledger.
func evidenceStore(t *testing.T, stream string) (cfgFile string, cfg config.Config, dir string) {
	t.Helper()
	e := testaws.Require(t)
	t.Setenv("CUSTODY_KEY_PASSPHRASE", "pass")
	dir = t.TempDir()
	if _, err := custody.Keygen(filepath.Join(dir, "k.pem"), []byte("pass")); err != nil {
		t.Fatal(err)
	}
	store := config.Store{Bucket: testaws.BucketName(t), Prefix: "custody", Retention: config.Retention{Mode: config.ModeCompliance, Days: 1}}
	if _, err := custody.InitBucket(context.Background(), e.S3(t), store); err != nil {
		t.Fatal(err)
	}
	cfgFile = filepath.Join(dir, "custody.yaml")
	yaml := fmt.Sprintf("ledger: %s/ledger.db\nagent: {stream: %s}\nstore: {bucket: %s, prefix: custody, retention: {mode: COMPLIANCE, days: 1}}\nsigner: {key: \"file://%s/k.pem\"}\n",
		dir, stream, store.Bucket, dir)
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := cli.LoadConfig(cli.ConfigSource{File: cfgFile})
	if err != nil {
		t.Fatal(err)
	}
	return cfgFile, cfg, dir
}
