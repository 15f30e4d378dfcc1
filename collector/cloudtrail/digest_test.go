package cloudtrail

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/custody-ir/custody/internal/testaws"
)

func TestDigestKeys(t *testing.T) {
	at := time.Date(2026, 11, 20, 5, 7, 0, 0, time.UTC)
	cases := []DigestKey{
		{Account: "123456789012", Region: "us-east-1", Trail: "main", HomeRegion: "us-east-1", Time: at},
		{Prefix: "logs/ct", OrgID: "o-abcdef1234", Account: "123456789012", Region: "eu-west-1", Trail: "org_trail-1", HomeRegion: "us-east-1", Time: at},
		{Account: "123456789012", Region: "us-east-1", Trail: "main", HomeRegion: "us-east-1", Time: at, Backfill: true},
	}
	for _, k := range cases {
		s := k.String()
		got, ok := ParseDigestKey(s)
		if !ok || got != k {
			t.Errorf("round trip of %s: %+v %v", s, got, ok)
		}
		if !strings.HasPrefix(s, DigestPrefix(k.Prefix, k.OrgID, k.Account, k.Region, at)) {
			t.Errorf("%s is not under its day prefix", s)
		}
	}
	for _, bad := range []string{
		"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/20/999999999999_CloudTrail-Digest_us-east-1_main_us-east-1_20261120T050700Z.json.gz", // account differs
		"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/21/123456789012_CloudTrail-Digest_us-east-1_main_us-east-1_20261120T050700Z.json.gz", // day differs
		"AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/20/123456789012_CloudTrail_us-east-1_20261120T0500Z_abc.json.gz",                            // a log file
		"AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/20/123456789012_CloudTrail-Digest_us-east-1_main_us-east-1_20261120T050700Z.json",    // not gzip
	} {
		if _, ok := ParseDigestKey(bad); ok {
			t.Errorf("ParseDigestKey accepted %s", bad)
		}
	}
}

func TestGunzip(t *testing.T) {
	body := []byte(strings.Repeat("event ", 100))
	var out bytes.Buffer
	if n, err := Gunzip(&out, bytes.NewReader(testaws.Gzip(body)), 1<<20); err != nil || n != int64(len(body)) || out.String() != string(body) {
		t.Fatalf("Gunzip = %d, %v", n, err)
	}
	if _, err := Gunzip(io.Discard, bytes.NewReader(append(testaws.Gzip(body), 0)), 1<<20); !errors.Is(err, ErrTrailingData) {
		t.Errorf("one trailing byte: %v", err)
	}
	if _, err := Gunzip(io.Discard, bytes.NewReader(append(testaws.Gzip(body), testaws.Gzip(body)...)), 1<<20); !errors.Is(err, ErrTrailingData) {
		t.Errorf("a second gzip member: %v", err)
	}
	bomb := testaws.Gzip(make([]byte, 10<<20))
	if _, err := Gunzip(io.Discard, bytes.NewReader(bomb), 1<<20); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("10 MiB bomb with a 1 MiB limit: %v", err)
	}
	if _, err := Gunzip(io.Discard, bytes.NewReader(testaws.Gzip(body)[:20]), 1<<20); err == nil {
		t.Error("a truncated stream was accepted")
	}
	if _, err := Gunzip(io.Discard, strings.NewReader("plain text"), 1<<20); err == nil {
		t.Error("plain text was accepted")
	}
}

func TestParseDigest(t *testing.T) {
	d, sha, err := ParseDigest(testaws.Gzip([]byte(`{"awsAccountId":"123456789012","digestStartTime":"2026-11-20T00:00:00Z","digestEndTime":"2026-11-20T01:00:00Z","previousDigestSignature":null,"logFiles":[]}`)))
	if err != nil || !d.First() || len(sha) != 64 {
		t.Fatalf("ParseDigest = %+v %s %v", d, sha, err)
	}
	if d.SigningString(sha) != "2026-11-20T01:00:00Z\n/\n"+sha+"\nnull" {
		t.Fatalf("signing string %q", d.SigningString(sha))
	}
	for _, bad := range []string{`{"a":1}{"b":2}`, `[`, `"x"`} {
		if _, _, err := ParseDigest(testaws.Gzip([]byte(bad))); err == nil {
			t.Errorf("ParseDigest(%s) succeeded", bad)
		}
	}
}

func TestParsePublicKeys(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	der := x509.MarshalPKCS1PublicKey(&k.PublicKey)
	val := base64.StdEncoding.EncodeToString(der)
	fp := Fingerprint(der)
	cli := fmt.Sprintf(`{"PublicKeyList":[{"Value":%q,"ValidityStartTime":"2026-01-01T00:00:00+00:00","ValidityEndTime":"2026-02-01T00:00:00+00:00","Fingerprint":%q},
		{"Value":%q,"ValidityStartTime":1767225600.0,"ValidityEndTime":1769904000,"Fingerprint":%q}]}`, val, fp, val, fp)
	keys, err := ParsePublicKeys([]byte(cli))
	if err != nil || len(keys) != 2 {
		t.Fatalf("ParsePublicKeys = %v, %v", keys, err)
	}
	want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if !keys[0].ValidityStart.Equal(want) || !keys[1].ValidityStart.Equal(want) || !keys[0].ValidAt(want.Add(time.Hour)) || keys[0].ValidAt(want.AddDate(0, 2, 0)) {
		t.Fatalf("validity: %+v", keys)
	}
	again, err := MarshalPublicKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	if round, err := ParsePublicKeys(again); err != nil || len(round) != 2 || round[0].Fingerprint != fp {
		t.Fatalf("round trip: %v %v", round, err)
	}
	bad := strings.Replace(cli, fp, strings.Repeat("0", 32), 1)
	if _, err := ParsePublicKeys([]byte(bad)); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("wrong fingerprint: %v", err)
	}
}

func FuzzParseDigest(f *testing.F) {
	f.Add(testaws.Gzip([]byte(`{"awsAccountId":"1","digestEndTime":"2026-11-20T01:00:00Z","logFiles":[{"s3Object":"k","hashValue":"00"}]}`)))
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, _, err := ParseDigest(b)
		if err == nil {
			_, _, _ = d.Times() // must not panic
			d.SigningString("x")
		}
	})
}

func FuzzParseDigestKey(f *testing.F) {
	f.Add(DigestKey{Account: "123456789012", Region: "us-east-1", Trail: "t", HomeRegion: "us-east-1", Time: time.Unix(1e9, 0).UTC()}.String())
	f.Fuzz(func(t *testing.T, s string) {
		if k, ok := ParseDigestKey(s); ok {
			if k2, ok2 := ParseDigestKey(k.String()); !ok2 || k2 != k {
				t.Fatalf("%q parses to %+v, which does not round-trip", s, k)
			}
		}
	})
}

// TestPublicKeyEitherDERForm: a key saved as PKCS#1 or as
// SubjectPublicKeyInfo carries the fingerprint AWS publishes, the MD5 of
// its PKCS#1 DER, and is accepted with it; the MD5 of the SPKI bytes is not
// CloudTrail's fingerprint and is refused.
func TestPublicKeyEitherDERForm(t *testing.T) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	pkcs1 := x509.MarshalPKCS1PublicKey(&k.PublicKey)
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	awsFP := Fingerprint(pkcs1) // what ListPublicKeys and digestPublicKeyFingerprint say
	for name, der := range map[string][]byte{"PKCS#1": pkcs1, "SubjectPublicKeyInfo": spki} {
		doc := fmt.Sprintf(`{"PublicKeyList":[{"Value":%q,"ValidityStartTime":1767225600,"Fingerprint":%q}]}`, base64.StdEncoding.EncodeToString(der), awsFP)
		keys, err := ParsePublicKeys([]byte(doc))
		if err != nil || len(keys) != 1 || keys[0].Fingerprint != awsFP || !bytes.Equal(keys[0].Value, der) {
			t.Fatalf("%s with AWS's fingerprint: %+v, %v", name, keys, err)
		}
		if fp, err := KeyFingerprint(der); err != nil || fp != awsFP {
			t.Fatalf("KeyFingerprint(%s) = %s, %v; want %s", name, fp, err, awsFP)
		}
		if pk, err := NewPublicKey(der, "", time.Time{}, time.Time{}); err != nil || pk.Fingerprint != awsFP {
			t.Fatalf("NewPublicKey(%s) = %+v, %v", name, pk, err)
		}
	}
	if _, err := NewPublicKey(spki, Fingerprint(spki), time.Time{}, time.Time{}); err == nil || !strings.Contains(err.Error(), awsFP) {
		t.Fatalf("the MD5 of the SPKI bytes accepted as the fingerprint: %v", err)
	}
	if _, err := KeyFingerprint([]byte("not a key")); err == nil {
		t.Fatal("KeyFingerprint accepted garbage")
	}
}

func FuzzParsePublicKeys(f *testing.F) {
	f.Add([]byte(`{"PublicKeyList":[{"Value":"AA==","ValidityStartTime":1,"Fingerprint":""}]}`))
	k, _ := rsa.GenerateKey(rand.Reader, 1024)
	pkcs1 := x509.MarshalPKCS1PublicKey(&k.PublicKey)
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	for _, der := range [][]byte{pkcs1, spki} {
		f.Add([]byte(fmt.Sprintf(`{"PublicKeyList":[{"Value":%q,"ValidityStartTime":1,"Fingerprint":%q}]}`, base64.StdEncoding.EncodeToString(der), Fingerprint(pkcs1))))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := ParsePublicKeys(b)
		if err != nil {
			return
		}
		for _, k := range keys {
			// Whatever form the key came in, its fingerprint is the MD5 of
			// its PKCS#1 DER, and the list round-trips.
			if k.key == nil || k.Fingerprint != Fingerprint(x509.MarshalPKCS1PublicKey(k.key)) {
				t.Fatalf("key %x: fingerprint %s is not over its PKCS#1 DER", k.Value, k.Fingerprint)
			}
		}
		again, err := MarshalPublicKeys(keys)
		if err != nil {
			t.Fatal(err)
		}
		round, err := ParsePublicKeys(again)
		if err != nil || len(round) != len(keys) {
			t.Fatalf("round trip: %d keys, %v", len(round), err)
		}
		for i := range round {
			if round[i].Fingerprint != keys[i].Fingerprint || !bytes.Equal(round[i].Value, keys[i].Value) {
				t.Fatalf("round trip changed key %d", i)
			}
		}
	})
}
