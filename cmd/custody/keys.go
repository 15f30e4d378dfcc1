package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/custody"
)

// keygenOptions are keygen's flags.
type keygenOptions struct {
	out, passEnv, passFile string
	ed25519                bool // a witness's key (witnesses[].key)
}

func newKeygenCommand(g *globals) *cobra.Command {
	var o keygenOptions
	cmd := &cobra.Command{
		Use: "keygen --out FILE",
		Example: `  # asks for the passphrase on a terminal (or reads CUSTODY_KEY_PASSPHRASE)
  custody keygen --out /etc/custody/signing.pem     # writes signing.pem (0600) and signing.pub`,
		Short: "Create an ECDSA P-256 manifest signing key, encrypted with a passphrase",
		Long: `Create an ECDSA P-256 key pair for signing manifests. The private key is
encrypted with a passphrase (scrypt and NaCl secretbox, the sigstore/cosign
format) and written with mode 0600; the public key goes beside it as .pub.
The passphrase comes from --passphrase-file, else the environment variable
named by --passphrase-env (CUSTODY_KEY_PASSPHRASE), else a terminal prompt.
Existing files are never overwritten. With --ed25519 the key is an Ed25519
key for a witness (witnesses[].key and witnesses[].public), encrypted the
same way.`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return runKeygen(cmd.Context(), o, g.deps(cmd, nil)) },
	}
	cmd.Flags().StringVar(&o.out, "out", "", "private key file to create")
	cmd.Flags().StringVar(&o.passEnv, "passphrase-env", "CUSTODY_KEY_PASSPHRASE", "environment variable holding the passphrase")
	cmd.Flags().StringVar(&o.passFile, "passphrase-file", "", "file holding the passphrase")
	cmd.Flags().BoolVar(&o.ed25519, "ed25519", false, "create an Ed25519 witness key (witnesses[].key) instead of a signing key")
	return cmd
}

// runKeygen writes a new signing key pair, refusing before it asks for a
// passphrase what it would have to refuse after.
func runKeygen(_ context.Context, o keygenOptions, d deps) error {
	if err := o.check(); err != nil {
		return err
	}
	pass, err := readNewPassphrase(o.passFile, o.passEnv, d.getenv, d.stderr)
	if err != nil {
		return err
	}
	keygen, configure := custody.Keygen, "signer.key: file://%s\n"
	if o.ed25519 {
		keygen, configure = custody.KeygenEd25519, "witnesses[].key: file://%s\n"
	}
	pubPath, err := keygen(o.out, pass)
	if err != nil {
		return err
	}
	id, err := fileKeyID(pubPath)
	if err != nil {
		return err
	}
	return d.printer().Result(keygenResult{PrivateKey: o.out, PublicKey: pubPath, KeyID: id}, func(w io.Writer) {
		fmt.Fprintf(w, "private key %s (encrypted, mode 0600)\npublic key  %s\nkey id      %s\n", o.out, pubPath, id)
		abs, _ := filepath.Abs(o.out)
		fmt.Fprintf(w, "configure:  "+configure, abs)
	})
}

// check refuses, before a passphrase is asked for, a missing --out, an
// --out ending in .pub, and keys that exist already (the private key is
// not written when only the public one is in the way).
func (o keygenOptions) check() error {
	if o.out == "" {
		return cli.Usagef("--out is required")
	}
	if pubKeyPath(o.out) == o.out {
		return cli.Usagef("--out %s: the private key needs a name not ending in .pub (the public key goes beside it as .pub)", o.out)
	}
	for _, f := range []string{o.out, pubKeyPath(o.out)} {
		if _, err := os.Lstat(f); err == nil {
			return cli.Usagef("%s exists; keygen never overwrites a key (choose another --out, or move the old key away)", f)
		}
	}
	return nil
}

// fileKeyID is the key id of the PEM public key in path.
func fileKeyID(path string) (string, error) {
	pemBytes, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return "", err
	}
	return custody.KeyID(pub)
}

// pubKeyPath is where custody.Keygen writes the public key of out.
func pubKeyPath(out string) string { return strings.TrimSuffix(out, filepath.Ext(out)) + ".pub" }

// keygenResult is keygen's --json output.
type keygenResult struct {
	PrivateKey string `json:"privateKey"` // path of the encrypted private key
	PublicKey  string `json:"publicKey"`  // path of the public key (PEM)
	KeyID      string `json:"keyId"`
}

// pubkeyResult is pubkey's --json output.
type pubkeyResult struct {
	KeyID     string `json:"keyId"`
	PublicKey string `json:"publicKey"` // PEM
}

func readNewPassphrase(file, env string, getenv func(string) string, stderr io.Writer) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		return bytes.TrimRight(b, "\r\n"), nil
	}
	if v := getenv(env); v != "" {
		return []byte(v), nil
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return nil, cli.Usagef("no passphrase: set %s or --passphrase-file (no terminal to ask on)", env)
	}
	fmt.Fprint(stderr, "passphrase: ")
	a, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, err
	}
	fmt.Fprint(stderr, "again: ")
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(a, b) {
		return nil, cli.Usagef("the passphrases differ; nothing was written")
	}
	return a, nil
}

// pubkeyOptions are pubkey's flags: none of its own.
type pubkeyOptions struct{}

func newPubkeyCommand(g *globals) *cobra.Command {
	var o pubkeyOptions
	return &cobra.Command{
		Use: "pubkey",
		Example: `  custody pubkey > signer.pub                 # PEM of the configured signer (key file or awskms://)
  custody --json pubkey                       # {"keyId": ..., "publicKey": ...}`,
		Short: "Print the public key of the configured signer (PEM)",
		Args:  cli.NoArgs(),
		RunE:  func(cmd *cobra.Command, _ []string) error { return runPubkey(cmd.Context(), o, g.deps(cmd, nil)) },
	}
}

// runPubkey prints the configured signer's public key and its key id.
func runPubkey(ctx context.Context, _ pubkeyOptions, d deps) error {
	cfg, err := d.config()
	if err != nil {
		return err
	}
	s, err := custody.LoadSigner(ctx, cfg.Signer, d.getenv)
	if err != nil {
		return err
	}
	pemBytes, err := custody.PublicKeyPEM(s)
	if err != nil {
		return err
	}
	pub, err := s.PublicKey()
	if err != nil {
		return err
	}
	id, err := custody.KeyID(pub)
	if err != nil {
		return err
	}
	return d.printer().Result(pubkeyResult{KeyID: id, PublicKey: string(pemBytes)}, func(w io.Writer) { _, _ = w.Write(pemBytes) })
}
