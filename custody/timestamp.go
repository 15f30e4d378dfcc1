package custody

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/custody-ir/custody/internal/config"
)

// TSA is an RFC 3161 time-stamping authority: it stamps each manifest's
// signature, so the time a manifest was sealed rests on a third party
// rather than on the agent's clock.
type TSA struct {
	url    string
	chain  TSAChain
	client *http.Client
}

// TSAChain is the certificate chain timestamps must verify against.
type TSAChain struct {
	PEM           []byte
	roots         *x509.CertPool
	intermediates *x509.CertPool
}

// maxTimestampSize bounds a TSA response.
const maxTimestampSize = 1 << 20

// timestampSkew is how far a manifest's claimed sealing time may be from
// its timestamp.
const timestampSkew = 10 * time.Minute

// LoadTSA reads the configured TSA; a zero config returns nil.
func LoadTSA(c config.Timestamp) (*TSA, error) {
	if c.URL == "" {
		return nil, nil
	}
	pemBytes, err := os.ReadFile(c.CertChain)
	if err != nil {
		return nil, fmt.Errorf("timestamp.cert_chain: %w", err)
	}
	chain, err := ParseTSAChain(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("timestamp.cert_chain %s: %w", c.CertChain, err)
	}
	return &TSA{url: c.URL, chain: chain, client: &http.Client{Timeout: 30 * time.Second}}, nil
}

// Chain is the TSA's certificate chain.
func (t *TSA) Chain() TSAChain { return t.chain }

// ParseTSAChain reads PEM certificates: self-signed ones are roots, the
// rest intermediates.
func ParseTSAChain(pemBytes []byte) (TSAChain, error) {
	certs, err := cryptoutils.UnmarshalCertificatesFromPEM(pemBytes)
	if err != nil {
		return TSAChain{}, err
	}
	if len(certs) == 0 {
		return TSAChain{}, errors.New("no certificates")
	}
	c := TSAChain{PEM: pemBytes, roots: x509.NewCertPool(), intermediates: x509.NewCertPool()}
	nroots := 0
	for _, cert := range certs {
		if bytes.Equal(cert.RawIssuer, cert.RawSubject) && cert.CheckSignatureFrom(cert) == nil {
			c.roots.AddCert(cert)
			nroots++
		} else {
			c.intermediates.AddCert(cert)
		}
	}
	if nroots == 0 {
		return TSAChain{}, errors.New("no self-signed root certificate in the chain")
	}
	return c, nil
}

// Stamp asks the TSA for a timestamp token over the SHA-256 of data and
// checks it before returning it.
func (t *TSA) Stamp(ctx context.Context, data []byte) ([]byte, error) {
	req, err := timestamp.CreateRequest(bytes.NewReader(data), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true})
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(req))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/timestamp-query")
	resp, err := t.client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("timestamp from %s: %w", t.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTimestampSize+1))
	if err != nil {
		return nil, fmt.Errorf("timestamp from %s: %w", t.url, err)
	}
	if resp.StatusCode != http.StatusOK || len(body) > maxTimestampSize {
		return nil, fmt.Errorf("timestamp from %s: HTTP %d (%d bytes)", t.url, resp.StatusCode, len(body))
	}
	ts, err := parseTimestamp(timestamp.ParseResponse, body)
	if err != nil {
		return nil, fmt.Errorf("timestamp from %s: %w", t.url, err)
	}
	if _, err := VerifyTimestamp(ts.RawToken, data, t.chain); err != nil {
		return nil, fmt.Errorf("timestamp from %s: %w", t.url, err)
	}
	return ts.RawToken, nil
}

// VerifyTimestamp checks a timestamp token over data against chain and
// returns the time it attests.
func VerifyTimestamp(token, data []byte, chain TSAChain) (time.Time, error) {
	ts, err := parseTimestamp(timestamp.Parse, token)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a valid timestamp token: %w", err)
	}
	if ts.HashAlgorithm != crypto.SHA256 {
		return time.Time{}, fmt.Errorf("timestamp uses %v, SHA-256 expected", ts.HashAlgorithm)
	}
	sum := sha256.Sum256(data)
	if !bytes.Equal(ts.HashedMessage, sum[:]) {
		return time.Time{}, errors.New("the timestamp is over other data")
	}
	var leaf *x509.Certificate
	for _, c := range ts.Certificates {
		for _, u := range c.ExtKeyUsage {
			if u == x509.ExtKeyUsageTimeStamping {
				leaf = c
			}
		}
	}
	if leaf == nil {
		return time.Time{}, errors.New("the timestamp carries no time-stamping certificate")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: chain.roots, Intermediates: chain.intermediates, CurrentTime: ts.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		return time.Time{}, fmt.Errorf("the timestamp's certificate does not chain to the configured TSA: %w", err)
	}
	return ts.Time, nil
}

// timestampParsing serializes the RFC 3161 parser: its BER converter
// (github.com/digitorus/pkcs7) keeps a package-level counter, a data race
// between two parses.
var timestampParsing sync.Mutex

// parseTimestamp runs the RFC 3161 parser, whose BER reader panics on
// some malformed input (a two-byte token will do): that is a malformed
// token or response, reported as such, not a crash of the verifier.
func parseTimestamp(parse func([]byte) (*timestamp.Timestamp, error), b []byte) (ts *timestamp.Timestamp, err error) {
	timestampParsing.Lock()
	defer timestampParsing.Unlock()
	defer func() {
		if r := recover(); r != nil {
			ts, err = nil, fmt.Errorf("malformed ASN.1 (%v)", r)
		}
	}()
	return parse(b)
}

// signatureBytes is what a manifest's timestamp covers: its first DSSE
// signature, decoded.
func signatureBytes(e Envelope) ([]byte, error) {
	if len(e.DSSE.Signatures) == 0 {
		return nil, errors.New("no signature")
	}
	return base64.StdEncoding.DecodeString(e.DSSE.Signatures[0].Sig)
}
