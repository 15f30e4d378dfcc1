package custody

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigkms "github.com/sigstore/sigstore/pkg/signature/kms"

	"github.com/custody-ir/custody/internal/config"
)

// Signer signs manifests. It is a sigstore SignerVerifier: a local ECDSA
// P-256 key, or an awskms:// key through sigstore's KMS provider (the
// provider must be registered by a blank import in main).
type Signer = signature.SignerVerifier

// ErrNoPassphrase means an encrypted key file was given without a
// passphrase source.
var ErrNoPassphrase = errors.New("no passphrase for the signing key")

// LoadSigner opens the configured signing key. A key file's passphrase is
// read from the environment variable or file the config names; it is never
// logged or kept beyond decryption.
func LoadSigner(ctx context.Context, sc config.Signer, getenv func(string) string) (Signer, error) {
	switch {
	case strings.HasPrefix(sc.Key, "file://"):
		path := strings.TrimPrefix(sc.Key, "file://")
		pass, err := passphrase(sc, getenv)
		if err != nil {
			return nil, err
		}
		pemBytes, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read signing key %s: %w", path, err)
		}
		priv, err := cryptoutils.UnmarshalPEMToPrivateKey(pemBytes, cryptoutils.StaticPasswordFunc(pass))
		clear(pass)
		// scrypt's 64 MiB working set is garbage now: give it back, so a
		// long-running agent does not carry it.
		debug.FreeOSMemory()
		if err != nil {
			return nil, fmt.Errorf("decrypt signing key %s: %w (wrong passphrase, or not a key made by custody keygen)", path, err)
		}
		ec, ok := priv.(*ecdsa.PrivateKey)
		if !ok || ec.Curve != elliptic.P256() {
			return nil, fmt.Errorf("signing key %s is a %T; an ECDSA P-256 key is required", path, priv)
		}
		return signature.LoadECDSASignerVerifier(ec, crypto.SHA256)
	case strings.HasPrefix(sc.Key, "awskms://"):
		sv, err := sigkms.Get(ctx, sc.Key, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("open KMS signing key %s: %w", sc.Key, err)
		}
		return sv, nil
	}
	return nil, fmt.Errorf("signing key %q: file:// or awskms:// expected", sc.Key)
}

func passphrase(sc config.Signer, getenv func(string) string) ([]byte, error) {
	if sc.PassphraseFile != "" {
		b, err := os.ReadFile(sc.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("read passphrase file %s: %w", sc.PassphraseFile, err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	if sc.PassphraseEnv != "" {
		if v := getenv(sc.PassphraseEnv); v != "" {
			return []byte(v), nil
		}
	}
	return nil, fmt.Errorf("%w: set %s or signer.passphrase_file", ErrNoPassphrase, sc.PassphraseEnv)
}

// Keygen writes a new ECDSA P-256 key pair: the private key encrypted with
// pass (scrypt and secretbox, the sigstore/cosign format) at privPath with
// mode 0600, and the public key PEM at privPath's base + ".pub". It never
// overwrites an existing file.
func Keygen(privPath string, pass []byte) (pubPath string, err error) {
	if len(pass) == 0 {
		return "", fmt.Errorf("%w: an empty passphrase would leave the key unprotected", ErrNoPassphrase)
	}
	privPEM, pubPEM, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc(pass))
	if err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	pubPath = strings.TrimSuffix(privPath, filepath.Ext(privPath)) + ".pub"
	if err := writeNew(privPath, privPEM, 0o600); err != nil {
		return "", err
	}
	if err := writeNew(pubPath, pubPEM, 0o644); err != nil {
		return "", err
	}
	return pubPath, nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists; keygen never overwrites a key", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// PublicKeyPEM returns the signer's public key as PEM.
func PublicKeyPEM(s signature.PublicKeyProvider) ([]byte, error) {
	pub, err := s.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	return cryptoutils.MarshalPublicKeyToPEM(pub)
}

// KeyID is the hex SHA-256 of a public key's DER encoding: what manifests
// record as the signer and reports print.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}
