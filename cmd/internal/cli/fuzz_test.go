package cli

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/custody-ir/custody/internal/config"
)

// FuzzConfig: any file ends in a configuration or in problems naming
// fields, never a panic.
func FuzzConfig(f *testing.F) {
	f.Add("ledger: l.db\nstore: {bucket: evidence}\nsigner: {key: \"file:///k.pem\"}\n")
	f.Add("sources:\n  accounts:\n    - {id: 1, regions: [x], trails: [{name: t}]}\n")
	f.Add("store: [1, 2]\ntrust: {a: b}\n")
	f.Add("a: &x [*x, *x]\n")
	f.Fuzz(func(t *testing.T, yaml string) {
		path := filepath.Join(t.TempDir(), "c.yaml")
		writeFile(t, path, yaml)
		_, err := LoadConfig(ConfigSource{File: path})
		var ps config.Problems
		if err != nil && !errors.As(err, &ps) {
			t.Fatalf("error without problems: %v", err)
		}
		for _, p := range ps {
			if p.Path == "" || p.Message == "" {
				t.Fatalf("problem without a path or message: %+v", p)
			}
		}
	})
}
