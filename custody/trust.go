package custody

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigkms "github.com/sigstore/sigstore/pkg/signature/kms"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
)

// TrustedKey is a public key verify accepts, within its validity window.
type TrustedKey struct {
	Name      string
	KeyID     string
	PEM       []byte
	Verifier  signature.Verifier
	NotBefore time.Time
	NotAfter  time.Time
}

// ValidAt reports whether the key may have signed at t.
func (k TrustedKey) ValidAt(t time.Time) bool {
	return config.TrustedKey{NotBefore: k.NotBefore, NotAfter: k.NotAfter}.ValidAt(t)
}

// LoadTrust opens every key of the trust list. KMS keys are fetched once
// (GetPublicKey) and then verified locally, so verification needs no KMS
// permission beyond that.
func LoadTrust(ctx context.Context, keys []config.TrustedKey) ([]TrustedKey, error) {
	var out []TrustedKey
	for i, k := range keys {
		var pub crypto.PublicKey
		switch {
		case strings.HasPrefix(k.Key, "file://"):
			b, err := os.ReadFile(strings.TrimPrefix(k.Key, "file://"))
			if err != nil {
				return nil, fmt.Errorf("trust[%d] %s: %w", i, k.Name, err)
			}
			if pub, err = cryptoutils.UnmarshalPEMToPublicKey(b); err != nil {
				return nil, fmt.Errorf("trust[%d] %s: not a PEM public key: %w", i, k.Name, err)
			}
		case strings.HasPrefix(k.Key, "awskms://"):
			sv, err := sigkms.Get(ctx, k.Key, crypto.SHA256)
			if err != nil {
				return nil, fmt.Errorf("trust[%d] %s: %w", i, k.Name, err)
			}
			if pub, err = sv.PublicKey(); err != nil {
				return nil, fmt.Errorf("trust[%d] %s: %w", i, k.Name, err)
			}
		default:
			return nil, fmt.Errorf("trust[%d] %s: file:// or awskms:// expected", i, k.Name)
		}
		tk, err := NewTrustedKey(k.Name, pub, k.NotBefore, k.NotAfter)
		if err != nil {
			return nil, fmt.Errorf("trust[%d] %s: %w", i, k.Name, err)
		}
		out = append(out, tk)
	}
	return out, nil
}

// ConfiguredTrust is the trust list verify uses: the configured one; without
// one, the configured signer's own public key is trusted (and the report
// says which key): for a key file, the .pub keygen wrote beside it, else
// the key itself, opened with its passphrase (getenv reads
// signer.passphrase_env).
func ConfiguredTrust(ctx context.Context, cfg config.Config, getenv func(string) string) ([]TrustedKey, error) {
	if len(cfg.Trust) > 0 {
		return LoadTrust(ctx, cfg.Trust)
	}
	if pub, ok := strings.CutPrefix(cfg.Signer.Key, "file://"); ok {
		pub = strings.TrimSuffix(pub, filepath.Ext(pub)) + ".pub"
		if _, err := os.Stat(pub); err == nil {
			return LoadTrust(ctx, []config.TrustedKey{{Name: "signer", Key: "file://" + pub}})
		}
	}
	s, err := LoadSigner(ctx, cfg.Signer, getenv)
	if err != nil {
		return nil, fmt.Errorf("no trust list configured, and the signer's key cannot be opened to stand in: %w", err)
	}
	pub, err := s.PublicKey()
	if err != nil {
		return nil, err
	}
	k, err := NewTrustedKey("signer", pub, time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	return []TrustedKey{k}, nil
}

// NewTrustedKey wraps a public key for verification.
func NewTrustedKey(name string, pub crypto.PublicKey, notBefore, notAfter time.Time) (TrustedKey, error) {
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return TrustedKey{}, err
	}
	id, err := KeyID(pub)
	if err != nil {
		return TrustedKey{}, err
	}
	pemBytes, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return TrustedKey{}, err
	}
	return TrustedKey{Name: name, KeyID: id, PEM: pemBytes, Verifier: v, NotBefore: notBefore, NotAfter: notAfter}, nil
}

// verifyEnvelope checks env against the trust list for a signature made
// at t. It returns the key that verified, or a finding kind and message.
func verifyEnvelope(env Envelope, trust []TrustedKey, t time.Time) (TrustedKey, finding.Kind, string) {
	return verifyEnvelopeAt(env, trust, t, time.Time{}, 0)
}

// verifyEnvelopeAt is verifyEnvelope for a signature claimed to be made
// at t and stored, by S3's clock, at stored (zero: unknown): the key must
// be valid at both, stored give or take tolerance (the signature was made
// shortly before it was stored). A claimed time is whatever the signer
// wrote; the server's is not theirs to choose, so a retired key cannot
// sign today under an old date.
func verifyEnvelopeAt(env Envelope, trust []TrustedKey, t, stored time.Time, tolerance time.Duration) (TrustedKey, finding.Kind, string) {
	return verifySignedAt(newSignatureChecks(env, trust), trust, t, stored, tolerance)
}

// verifySignedAt is verifyEnvelopeAt with the signature checks given:
// sigs.verifies(i) tells whether trust[i] verifies the envelope.
func verifySignedAt(sigs *signatureChecks, trust []TrustedKey, t, stored time.Time, tolerance time.Duration) (TrustedKey, finding.Kind, string) {
	var outside *TrustedKey
	claimedOnly := false // valid at the claimed time, not at S3's
	for i, k := range trust {
		if !sigs.verifies(i) {
			continue
		}
		claimed, server := k.ValidAt(t), stored.IsZero() || k.validAround(stored, tolerance)
		if claimed && server {
			return k, "", ""
		}
		outside, claimedOnly = &trust[i], claimed
	}
	switch {
	case outside != nil && claimedOnly:
		return TrustedKey{}, finding.SignatureKeyExpired, fmt.Sprintf("signed by trusted key %q, which was not valid when S3 stored it (%s, give or take %s), whatever the signing time it claims (%s)",
			outside.Name, stored.UTC().Format(time.RFC3339), tolerance, t.UTC().Format(time.RFC3339))
	case outside != nil:
		return TrustedKey{}, finding.SignatureKeyExpired, fmt.Sprintf("signed by trusted key %q, which was not valid at the signing time %s", outside.Name, t.UTC().Format(time.RFC3339))
	}
	return TrustedKey{}, finding.SignatureUntrusted, "the signature does not verify with any trusted key"
}

// validAround reports whether the key's validity window meets
// [t-tolerance, t+tolerance].
func (k TrustedKey) validAround(t time.Time, tolerance time.Duration) bool {
	if !k.NotBefore.IsZero() && t.Add(tolerance).Before(k.NotBefore) {
		return false
	}
	if !k.NotAfter.IsZero() && t.Add(-tolerance).After(k.NotAfter) {
		return false
	}
	return true
}

// signatureChecks remembers which trusted keys verify one envelope, each
// checked once and only when asked: a reader can check the first ahead,
// in parallel, and the verifier then asks in trust order as before.
type signatureChecks struct {
	env   Envelope
	trust []TrustedKey
	state []int8 // per key: 0 not checked, 1 verifies, -1 does not
}

func newSignatureChecks(env Envelope, trust []TrustedKey) *signatureChecks {
	return &signatureChecks{env: env, trust: trust, state: make([]int8, len(trust))}
}

// verifies tells whether trust[i] verifies the envelope's signature.
func (s *signatureChecks) verifies(i int) bool {
	if s.state[i] == 0 {
		s.state[i] = -1
		if s.env.VerifyWith(s.trust[i].Verifier) == nil {
			s.state[i] = 1
		}
	}
	return s.state[i] > 0
}

// first checks keys in trust order up to the first that verifies: the
// checks verifySignedAt makes first, whatever the times.
func (s *signatureChecks) first() {
	for i := range s.trust {
		if s.verifies(i) {
			return
		}
	}
}
