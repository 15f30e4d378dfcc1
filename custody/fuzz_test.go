package custody

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// FuzzEnvelope: any bytes read as a manifest end in a value or an error,
// never a panic or an unbounded allocation.
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AA=="}]}`))
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEiLCJzdWJqZWN0IjpbeyJuYW1lIjoiYSIsImRpZ2VzdCI6eyJzaGEyNTYiOiIwMCJ9fV0sInByZWRpY2F0ZVR5cGUiOiJ4In0=","signatures":[{"sig":""}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := ParseEnvelope(bytes.NewReader(b))
		if err != nil {
			return
		}
		st, err := env.Statement()
		if err == nil && st.PredicateType != PredicateType {
			t.Fatalf("accepted predicate type %q", st.PredicateType)
		}
		_, _ = signatureBytes(env) // must not panic; an error is an answer
	})
}

// FuzzUnpack: no package, however hostile, makes verify --bundle write
// outside its temporary folder, leave anything behind, or panic.
func FuzzUnpack(f *testing.F) {
	mk := func(entries map[string]string, typ byte) []byte {
		var buf bytes.Buffer
		gw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gw)
		for name, body := range entries {
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Size: int64(len(body)), Mode: 0o644, Linkname: "/etc/passwd"}); err != nil {
				f.Fatal(err)
			}
			if _, err := tw.Write([]byte(body)); err != nil {
				f.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			f.Fatal(err)
		}
		if err := gw.Close(); err != nil {
			f.Fatal(err)
		}
		return buf.Bytes()
	}
	f.Add(mk(map[string]string{"root/a": "x", "root/b/c": "y"}, tar.TypeReg))
	f.Add(mk(map[string]string{"root/../../escape": "x"}, tar.TypeReg))
	f.Add(mk(map[string]string{"root/link": ""}, tar.TypeSymlink))
	f.Add([]byte("not a package"))
	clock := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	f.Fuzz(func(t *testing.T, b []byte) {
		outer := t.TempDir()
		tmp := filepath.Join(outer, "tmp")
		if err := os.Mkdir(tmp, 0o700); err != nil {
			t.Fatal(err)
		}
		t.Setenv("TMPDIR", tmp)
		pkg := filepath.Join(outer, "p.tar.gz")
		if err := os.WriteFile(pkg, b, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := VerifyBundle(context.Background(), pkg, VerifyOptions{}, Anchor{}, clock)
		if err == nil && r.OK {
			t.Fatal("an unpinned package verified OK")
		}
		err = filepath.Walk(outer, func(p string, info os.FileInfo, err error) error {
			if err == nil && p != outer && p != pkg && p != tmp {
				t.Fatalf("verify --bundle left %s behind", p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzManifestKey: key parsing and rendering agree.
func FuzzManifestKey(f *testing.F) {
	f.Add("custody/manifests/agent-1/000000000042.dsse.json")
	f.Add("custody/manifests/a/b/000000000001.dsse.json")
	f.Fuzz(func(t *testing.T, key string) {
		if stream, seq, ok := ParseManifestKey("custody", key); ok && ManifestKey("custody", stream, seq) != key {
			t.Fatalf("%q parses to %s/%d, which renders differently", key, stream, seq)
		}
	})
}

var safeKeySegment = regexp.MustCompile(`^[A-Za-z0-9._=-]+$`)

// FuzzArtifactPath: an artifact named after an outside key (a Config
// file's, a CloudTrail log's as its digest lists it) stays under its run's
// folder, one safe segment per folder of the key, and never lands in the
// manifests' namespace.
func FuzzArtifactPath(f *testing.F) {
	for _, k := range []string{
		"config/AWSLogs/123456789012/Config/us-east-1/2026/11/20/ConfigSnapshot/123456789012_Config_us-east-1_ConfigSnapshot_20261120T010000Z_a.json.gz",
		"AWSLogs/o-abcdef1234/123456789012/CloudTrail/us-east-1/2026/11/20/123456789012_CloudTrail_us-east-1_20261120T0005Z_abc.json.gz",
		"../../../manifests/agent/000000000001.dsse.json", "/", "//a//./b/../", "a b/c%2Fd/\\x/\u00e9\x00", "", ".", "..",
	} {
		f.Add(k, "123456789012", "us-east-1")
	}
	f.Add("000000000001.dsse.json", "manifests", "agent")
	f.Fuzz(func(t *testing.T, original, account, region string) {
		at := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
		key := ArtifactPath("custody", account, region, "config", at, "20261120T060000Z-0badf00d", original)
		if key != ArtifactPath("custody", account, region, "config", at, "20261120T060000Z-0badf00d", original) {
			t.Fatal("not deterministic")
		}
		segs := strings.Split(key, "/")
		folders := 0
		for _, s := range strings.Split(original, "/") {
			if s != "" {
				folders++
			}
		}
		if len(segs) != 8+folders || segs[0] != "custody" || segs[3] != "config" || strings.Join(segs[4:8], "/") != "2026/11/20/20261120T060000Z-0badf00d" {
			t.Fatalf("%q is stored at %q", original, key)
		}
		for _, seg := range segs {
			if !safeKeySegment.MatchString(seg) || seg == "." || seg == ".." {
				t.Fatalf("%q is stored at %q: segment %q", original, key, seg)
			}
		}
		if _, _, ok := ParseManifestKey("custody", key); ok {
			t.Fatalf("%q is stored at %q, a manifest's key", original, key)
		}
		if _, ok := IsCheckpointKey("custody", key); ok {
			t.Fatalf("%q is stored at %q, a checkpoint's key", original, key)
		}
	})
}

// fuzzTSA is a time-stamping authority in memory: its chain and a real
// token over data.
func fuzzTSA(tb testing.TB, data []byte) (TSAChain, []byte) {
	tb.Helper()
	now := time.Now()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "custody fuzz TSA root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		tb.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "custody fuzz TSA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	sum := sha256.Sum256(data)
	ts := timestamp.Timestamp{HashAlgorithm: crypto.SHA256, HashedMessage: sum[:], Time: now, Policy: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2},
		AddTSACertificate: true}
	resp, err := ts.CreateResponseWithOpts(leaf, leafKey, crypto.SHA256)
	if err != nil {
		tb.Fatal(err)
	}
	parsed, err := timestamp.ParseResponse(resp)
	if err != nil {
		tb.Fatal(err)
	}
	pemBytes, _ := cryptoutils.MarshalCertificateToPEM(root)
	chain, err := ParseTSAChain(pemBytes)
	if err != nil {
		tb.Fatal(err)
	}
	return chain, parsed.RawToken
}

// FuzzVerifyTimestamp: a timestamp token read from the evidence bucket,
// however altered, is refused with an error or attests the exact data it
// was made over, at a time the certificate was valid, and only that data.
func FuzzVerifyTimestamp(f *testing.F) {
	data := []byte("the signature of manifest 1")
	chain, token := fuzzTSA(f, data)
	f.Add(token, data)
	f.Add(token, []byte("other data"))
	f.Add(token[:len(token)/2], data)
	f.Add(append(bytes.Clone(token), 0), data)
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80, 0x00, 0x00}, data) // indefinite lengths
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, data)                                                                   // a 4 GiB length
	f.Add([]byte(nil), []byte(nil))
	f.Fuzz(func(t *testing.T, tok, d []byte) {
		at, err := VerifyTimestamp(tok, d, chain)
		if err != nil {
			if bytes.Equal(tok, token) && bytes.Equal(d, data) {
				t.Fatalf("the real token is refused: %v", err)
			}
			return
		}
		if sha256.Sum256(d) != sha256.Sum256(data) {
			t.Fatalf("a token made over %q verifies for %q", data, d)
		}
		if _, err := VerifyTimestamp(tok, append(bytes.Clone(d), 'x'), chain); err == nil {
			t.Fatal("the token verifies for other data too")
		}
		if time.Since(at) > 48*time.Hour || time.Until(at) > 48*time.Hour {
			t.Fatalf("the token attests %v", at)
		}
	})
}

// FuzzParseTSAChain: the TSA chain an export package carries is refused
// or holds a self-signed root.
func FuzzParseTSAChain(f *testing.F) {
	chain, _ := fuzzTSA(f, nil)
	f.Add(chain.PEM)
	f.Add(append(bytes.Clone(chain.PEM), chain.PEM...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte(nil))
	f.Fuzz(func(t *testing.T, pemBytes []byte) {
		c, err := ParseTSAChain(pemBytes)
		if err != nil {
			return
		}
		if c.roots == nil || c.intermediates == nil || !bytes.Equal(c.PEM, pemBytes) {
			t.Fatalf("a chain without its pools or PEM: %+v", c)
		}
	})
}
