package main

import (
	"bytes"
	"errors"
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

func newKeygenCommand(g *globals) *cobra.Command {
	var out, passEnv, passFile string
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
Existing files are never overwritten.`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return cli.Usagef("--out is required")
			}
			// Refuse before asking for a passphrase, and before writing
			// the private key when only the public one is in the way.
			if pubKeyPath(out) == out {
				return cli.Usagef("--out %s: the private key needs a name not ending in .pub (the public key goes beside it as .pub)", out)
			}
			for _, f := range []string{out, pubKeyPath(out)} {
				if _, err := os.Lstat(f); err == nil {
					return cli.Usagef("%s exists; keygen never overwrites a key (choose another --out, or move the old key away)", f)
				}
			}
			pass, err := readNewPassphrase(passFile, passEnv, g.stderr)
			if err != nil {
				return err
			}
			pubPath, err := custody.Keygen(out, pass)
			if err != nil {
				return err
			}
			pemBytes, err := os.ReadFile(pubPath)
			if err != nil {
				return err
			}
			pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
			if err != nil {
				return err
			}
			id, err := custody.KeyID(pub)
			if err != nil {
				return err
			}
			return g.printer().Result(keygenResult{PrivateKey: out, PublicKey: pubPath, KeyID: id}, func(w io.Writer) {
				fmt.Fprintf(w, "private key %s (encrypted, mode 0600)\npublic key  %s\nkey id      %s\n", out, pubPath, id)
				abs, _ := filepath.Abs(out)
				fmt.Fprintf(w, "configure:  signer.key: file://%s\n", abs)
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "private key file to create")
	cmd.Flags().StringVar(&passEnv, "passphrase-env", "CUSTODY_KEY_PASSPHRASE", "environment variable holding the passphrase")
	cmd.Flags().StringVar(&passFile, "passphrase-file", "", "file holding the passphrase")
	return cmd
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

func readNewPassphrase(file, env string, stderr io.Writer) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		return bytes.TrimRight(b, "\r\n"), nil
	}
	if v := os.Getenv(env); v != "" {
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
		return nil, errors.New("the passphrases differ")
	}
	return a, nil
}

func newPubkeyCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "pubkey",
		Example: `  custody pubkey > signer.pub                 # PEM of the configured signer (key file or awskms://)
  custody --json pubkey                       # {"keyId": ..., "publicKey": ...}`,
		Short: "Print the public key of the configured signer (PEM)",
		Args:  cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(cmd, nil)
			if err != nil {
				return err
			}
			s, err := custody.LoadSigner(cmd.Context(), cfg.Signer, os.Getenv)
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
			return g.printer().Result(pubkeyResult{KeyID: id, PublicKey: string(pemBytes)}, func(w io.Writer) {
				w.Write(pemBytes)
			})
		},
	}
}
