package custody

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
)

// libraryVerify is how envelopes were checked before VerifyWith checked
// them itself: sigstore's DSSE verifier over the raw bytes. VerifyWith
// must give the same answer for every envelope.
func libraryVerify(e Envelope, v signature.Verifier) error {
	return sigdsse.WrapVerifier(v, sigdsse.WithExpectedPayloadType(e.DSSE.PayloadType)).VerifySignature(bytes.NewReader(e.Raw), nil)
}

// envelopeCase builds a DSSE envelope over payload whose signatures are
// made by layout: each byte picks one signature (valid, valid in the URL
// alphabet, over other bytes, not base64, empty, by another key) and
// whether it carries the key's fingerprint, a wrong keyid or none.
func envelopeCase(t testing.TB, s, other signature.SignerVerifier, payloadType string, payload, layout []byte, keyID string) []byte {
	t.Helper()
	pae := dsse.PAE(payloadType, payload)
	sign := func(sv signature.SignerVerifier, msg []byte) []byte {
		sig, err := sv.SignMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	pub, err := s.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := dsse.SHA256KeyID(pub)
	env := dsse.Envelope{PayloadType: payloadType, Payload: base64.StdEncoding.EncodeToString(payload)}
	for _, l := range layout {
		var sig dsse.Signature
		switch l % 6 {
		case 0:
			sig.Sig = base64.StdEncoding.EncodeToString(sign(s, pae))
		case 1:
			sig.Sig = base64.URLEncoding.EncodeToString(sign(s, pae))
		case 2:
			sig.Sig = base64.StdEncoding.EncodeToString(sign(s, append(pae, 'x')))
		case 3:
			sig.Sig = "not base64!"
		case 4:
			sig.Sig = ""
		case 5:
			sig.Sig = base64.StdEncoding.EncodeToString(sign(other, pae))
		}
		switch l / 6 % 3 {
		case 1:
			sig.KeyID = fp
		case 2:
			sig.KeyID = keyID
		}
		env.Signatures = append(env.Signatures, sig)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func ed25519Key(t testing.TB) signature.SignerVerifier {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadSignerVerifier(priv, crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

// checkSameAnswer fails unless VerifyWith and the library agree on raw.
func checkSameAnswer(t *testing.T, raw []byte, keys ...signature.Verifier) {
	t.Helper()
	env, err := ParseEnvelopeBytes(raw)
	if err != nil {
		return // never reaches a signature check
	}
	for _, k := range keys {
		got, want := env.VerifyWith(k), libraryVerify(env, k)
		if (got == nil) != (want == nil) {
			t.Fatalf("VerifyWith says %v, the library %v, for %s", got, want, raw)
		}
	}
}

func TestVerifyWithAnswersAsTheLibrary(t *testing.T) {
	ec, ec2, ed := newKey(t), newKey(t), ed25519Key(t)
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	for _, tc := range []struct {
		name   string
		layout []byte
		ok     bool
	}{
		{"one valid signature", []byte{0}, true},
		{"valid, URL alphabet", []byte{1}, true},
		{"over other bytes", []byte{2}, false},
		{"not base64", []byte{3}, false},
		{"empty signature", []byte{4}, false},
		{"another key's", []byte{5}, false},
		{"another key's, then a valid one", []byte{5, 0}, true},
		{"valid, then one not base64: the library refuses the envelope", []byte{0, 3}, false},
		{"valid with the key's fingerprint", []byte{6}, true},
		{"valid with a wrong keyid: not tried", []byte{12}, false},
		{"wrong keyid, then valid without keyid", []byte{12, 0}, true},
		{"over other bytes with the fingerprint, then valid", []byte{8, 0}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []signature.SignerVerifier{ec, ed} {
				other := ec2
				if k == ec2 {
					other = ec
				}
				raw := envelopeCase(t, k, other, PayloadType, payload, tc.layout, "SHA256:not-this-key")
				env, err := ParseEnvelopeBytes(raw)
				if err != nil {
					t.Fatal(err)
				}
				got, want := env.VerifyWith(k), libraryVerify(env, k)
				if (got == nil) != tc.ok || (want == nil) != tc.ok {
					t.Fatalf("VerifyWith: %v, library: %v; want ok=%v", got, want, tc.ok)
				}
				// The other key verifies only its own signature, when no
				// signature spoils the envelope by not being base64.
				signedByOther, spoilt := false, false
				for _, l := range tc.layout {
					signedByOther = signedByOther || l%6 == 5
					spoilt = spoilt || l%6 == 3
				}
				if err := env.VerifyWith(other); (err == nil) != (signedByOther && !spoilt) {
					t.Fatalf("with the other key: %v", err)
				}
			}
		})
	}
	if err := (Envelope{}).VerifyWith(ec); err == nil {
		t.Fatal("an envelope never parsed verified")
	}
}

// FuzzVerifyWith holds VerifyWith to the library's answer for envelopes
// built from fuzzed payloads, payload types, keyids and signature
// layouts, and for fuzzed raw bytes.
func FuzzVerifyWith(f *testing.F) {
	ec, ec2, ed := newKey(f), newKey(f), ed25519Key(f)
	f.Add([]byte(`{}`), PayloadType, []byte{0}, "", []byte(nil))
	f.Add([]byte(`x`), CheckpointPayloadType, []byte{5, 1, 12}, "SHA256:x", []byte(nil))
	f.Add([]byte(nil), "", []byte{6, 3}, "", []byte(`{"payloadType":"t","payload":"","signatures":[{"sig":"AA=="}]}`))
	f.Fuzz(func(t *testing.T, payload []byte, payloadType string, layout []byte, keyID string, raw []byte) {
		if len(layout) > 8 {
			layout = layout[:8]
		}
		for _, k := range []signature.SignerVerifier{ec, ed} {
			checkSameAnswer(t, envelopeCase(t, k, ec2, payloadType, payload, layout, keyID), k, ec2)
		}
		checkSameAnswer(t, raw, ec, ed)
	})
}
