package custody

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws" // awskms:// in tests

	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

func TestKeygenAndLoadSigner(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "signing.pem")
	pub, err := Keygen(priv, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(priv)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode = %v, %v", st.Mode(), err)
	}
	raw, _ := os.ReadFile(priv)
	if !strings.Contains(string(raw), "ENCRYPTED SIGSTORE PRIVATE KEY") {
		t.Fatalf("private key is not encrypted:\n%s", raw)
	}
	if _, err := Keygen(priv, []byte("x")); err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Fatalf("keygen over an existing key: %v", err)
	}
	if _, err := Keygen(filepath.Join(dir, "empty.pem"), nil); err == nil {
		t.Fatal("keygen with an empty passphrase succeeded")
	}

	sc := config.Signer{Key: "file://" + priv, PassphraseEnv: "PASS"}
	env := func(v string) func(string) string { return func(string) string { return v } }
	s, err := LoadSigner(context.Background(), sc, env("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(context.Background(), sc, env("wrong")); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := LoadSigner(context.Background(), sc, env("")); err == nil || !strings.Contains(err.Error(), "set PASS") {
		t.Fatalf("no passphrase: %v", err)
	}
	passFile := filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte("correct horse\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(context.Background(), config.Signer{Key: "file://" + priv, PassphraseFile: passFile}, env("")); err != nil {
		t.Fatalf("passphrase file: %v", err)
	}
	// The .pub file is the signer's public key, usable as a trust entry.
	trust, err := LoadTrust(context.Background(), []config.TrustedKey{{Name: "k", Key: "file://" + pub}})
	if err != nil {
		t.Fatal(err)
	}
	env1, err := SignEnvelope(s, PayloadType, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseEnvelope(strings.NewReader(string(env1)))
	if err != nil {
		t.Fatal(err)
	}
	if k, kind, msg := verifyEnvelope(parsed, trust, time.Now()); kind != "" || k.Name != "k" {
		t.Fatalf("verify with the .pub: %s %s", kind, msg)
	}
	// Outside the key's window the signature is reported as such.
	trust[0].NotAfter = time.Now().Add(-time.Hour)
	if _, kind, _ := verifyEnvelope(parsed, trust, time.Now()); kind != "signature-key-expired" {
		t.Fatalf("expired key: %s", kind)
	}
}

// TestKMSSignedChainVerifiesOffline seals with an awskms:// key on moto and
// verifies with a trust list naming the same KMS key.
func TestKMSSignedChainVerifiesOffline(t *testing.T) {
	ctx := context.Background()
	le := testaws.Require(t)
	le.Setenv(t)
	kc := kms.NewFromConfig(le.Config(t).AWS)
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	uri := "awskms:///" + aws.ToString(key.KeyMetadata.KeyId)
	e := newTestEnv(t, config.ModeCompliance)
	if e.signer, err = LoadSigner(ctx, config.Signer{Key: uri}, os.Getenv); err != nil {
		t.Fatal(err)
	}
	e.chain = e.newChain(e.ledger, "kms-agent")
	if e.trust, err = LoadTrust(ctx, []config.TrustedKey{{Name: "kms", Key: uri}}); err != nil {
		t.Fatal(err)
	}
	e.collect(e.chain, 2)
	e.collect(e.chain, 1)
	r := e.verify(VerifyOptions{})
	if fs := testaws.Failures(r.Findings); len(fs) != 0 || r.Checked.Manifests != 2 || len(r.Keys) != 1 || r.Keys[0].Name != "kms" {
		t.Fatalf("KMS-signed chain: %+v %v", r.Checked, fs)
	}
	// The package carries the KMS key's public half: it verifies offline.
	pkg, _ := e.export(VerifyOptions{})
	br, err := VerifyBundle(ctx, pkg, VerifyOptions{}, e.pinned(), e.clock.now)
	if err != nil || !br.OK {
		t.Fatalf("KMS-signed package: %v %v", err, testaws.Failures(br.Findings))
	}
}
