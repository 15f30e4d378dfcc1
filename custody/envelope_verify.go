package custody

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// VerifyWith checks the envelope's signature with v. It accepts exactly
// what sigstore's DSSE verifier (dsse.WrapVerifier over v, which runs
// go-securesystemslib's envelope verifier with one key and a threshold of
// one) accepts for the same bytes, without parsing the envelope and its
// payload again or fingerprinting v's key for every envelope: verify
// checks 100,000 manifests this way. A differential fuzz test holds the
// two to the same answers.
//
// That is: every signature must be base64 (standard or URL alphabet); a
// signature whose keyid is set and is not v's key's fingerprint is not
// tried; one of those tried must verify over PAE(payloadType, payload).
func (e Envelope) VerifyWith(v signature.Verifier) error {
	if len(e.Raw) == 0 || e.Payload == nil {
		return fmt.Errorf("%w: not parsed", ErrMalformedEnvelope)
	}
	if len(e.DSSE.Signatures) == 0 {
		return dsse.ErrNoSignature
	}
	pub, err := v.PublicKey()
	if err != nil {
		return err
	}
	pae := dsse.PAE(e.DSSE.PayloadType, e.Payload)
	keyID, fingerprinted := "", false
	verified := false
	for _, s := range e.DSSE.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			if sig, err = base64.URLEncoding.DecodeString(s.Sig); err != nil {
				return errors.New("signature is not base64")
			}
		}
		if verified {
			continue // the rest are still decoded, as the library does
		}
		if s.KeyID != "" && !fingerprinted {
			if keyID, err = dsse.SHA256KeyID(pub); err != nil {
				keyID = ""
			}
			fingerprinted = true
		}
		if s.KeyID != "" && keyID != "" && s.KeyID != keyID {
			continue
		}
		if v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pae), options.WithContext(context.Background())) == nil {
			verified = true
		}
	}
	if !verified {
		return errors.New("no signature of the envelope verifies with the key")
	}
	return nil
}
