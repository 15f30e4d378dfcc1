package custody

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custody-ir/custody/internal/config"
)

func TestConfiguredTrust(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	priv := filepath.Join(dir, "signing.pem")
	pub, err := Keygen(priv, []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := Keygen(filepath.Join(dir, "other.pem"), []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := LoadTrust(ctx, []config.TrustedKey{{Name: "signer", Key: "file://" + pub}})
	if err != nil {
		t.Fatal(err)
	}
	want := keys[0].KeyID
	env := map[string]string{"PASS": "pass"}
	getenv := func(k string) string { return env[k] }
	signer := config.Signer{Key: "file://" + priv, PassphraseEnv: "PASS"}

	// A configured trust list is the trust list, whatever the signer.
	got, err := ConfiguredTrust(ctx, config.Config{Signer: signer, Trust: []config.TrustedKey{{Name: "old", Key: "file://" + other}}}, getenv)
	if err != nil || len(got) != 1 || got[0].Name != "old" || got[0].KeyID == want {
		t.Fatalf("configured list: %+v, %v", got, err)
	}
	// Without one, the .pub beside the signer's key file, with no
	// passphrase needed.
	got, err = ConfiguredTrust(ctx, config.Config{Signer: config.Signer{Key: "file://" + priv}}, getenv)
	if err != nil || len(got) != 1 || got[0].Name != "signer" || got[0].KeyID != want {
		t.Fatalf("the .pub beside the key: %+v, %v", got, err)
	}
	// Without the .pub, the key itself, opened with its passphrase.
	if err := os.Remove(pub); err != nil {
		t.Fatal(err)
	}
	got, err = ConfiguredTrust(ctx, config.Config{Signer: signer}, getenv)
	if err != nil || len(got) != 1 || got[0].Name != "signer" || got[0].KeyID != want {
		t.Fatalf("the signer's own key: %+v, %v", got, err)
	}
	// ... and a key that cannot be opened says why it was needed.
	delete(env, "PASS")
	_, err = ConfiguredTrust(ctx, config.Config{Signer: signer}, getenv)
	if err == nil || !strings.Contains(err.Error(), "no trust list configured, and the signer's key cannot be opened to stand in") {
		t.Fatalf("err = %v", err)
	}
}
