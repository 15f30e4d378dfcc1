package cloudtrail

import (
	"crypto/md5" //nolint:gosec // CloudTrail names keys by the MD5 of their DER bytes
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PublicKey is one CloudTrail digest-signing key with its validity.
type PublicKey struct {
	Fingerprint   string    `json:"Fingerprint"`
	Value         []byte    `json:"Value"` // DER: PKCS#1 RSAPublicKey or SubjectPublicKeyInfo
	ValidityStart time.Time `json:"ValidityStartTime"`
	ValidityEnd   time.Time `json:"ValidityEndTime"`
	key           *rsa.PublicKey
}

// Fingerprint is the hex MD5 of der. CloudTrail's fingerprint of a key is
// this over the key's PKCS#1 DER (RSAPublicKey), whatever form a key file
// holds it in: KeyFingerprint computes it from either form.
func Fingerprint(der []byte) string {
	sum := md5.Sum(der) //nolint:gosec // CloudTrail defines the fingerprint as MD5; not used for security
	return hex.EncodeToString(sum[:])
}

// parseRSA reads a DER public key in either encoding CloudTrail uses.
func parseRSA(der []byte) (*rsa.PublicKey, error) {
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("neither a PKCS#1 nor a SubjectPublicKeyInfo public key")
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T key, RSA expected", k)
	}
	return rk, nil
}

// ValidAt reports whether the key signed digests ending at t.
func (k PublicKey) ValidAt(t time.Time) bool {
	return !t.Before(k.ValidityStart) && (k.ValidityEnd.IsZero() || !t.After(k.ValidityEnd))
}

// maxPublicKeysJSON bounds a key list file.
const maxPublicKeysJSON = 16 << 20

// ParsePublicKeys reads a key list in the shape `aws cloudtrail
// list-public-keys --output json` prints (times as ISO 8601 strings or
// epoch seconds), checking every key's fingerprint against its bytes.
func ParsePublicKeys(b []byte) ([]PublicKey, error) {
	if len(b) > maxPublicKeysJSON {
		return nil, fmt.Errorf("public key list larger than %d bytes", maxPublicKeysJSON)
	}
	var doc struct {
		PublicKeyList []struct {
			Value             string
			ValidityStartTime json.RawMessage
			ValidityEndTime   json.RawMessage
			Fingerprint       string
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("public key list: %w", err)
	}
	var out []PublicKey
	for i, e := range doc.PublicKeyList {
		der, err := base64.StdEncoding.DecodeString(e.Value)
		if err != nil {
			return nil, fmt.Errorf("public key %d: Value is not base64: %w", i, err)
		}
		k, err := NewPublicKey(der, e.Fingerprint, time.Time{}, time.Time{})
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w", i, err)
		}
		if k.ValidityStart, err = parseAPITime(e.ValidityStartTime); err != nil {
			return nil, fmt.Errorf("public key %d: ValidityStartTime: %w", i, err)
		}
		if k.ValidityEnd, err = parseAPITime(e.ValidityEndTime); err != nil {
			return nil, fmt.Errorf("public key %d: ValidityEndTime: %w", i, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// KeyFingerprint is CloudTrail's fingerprint of a DER public key in either
// form (PKCS#1 or SubjectPublicKeyInfo): the hex MD5 of its PKCS#1 DER.
func KeyFingerprint(der []byte) (string, error) {
	rk, err := parseRSA(der)
	if err != nil {
		return "", err
	}
	return Fingerprint(x509.MarshalPKCS1PublicKey(rk)), nil
}

// NewPublicKey checks der (PKCS#1 or SubjectPublicKeyInfo) against
// fingerprint (when given) and wraps it. The fingerprint is computed over
// the key's PKCS#1 DER, as CloudTrail publishes it, so a key converted to
// SubjectPublicKeyInfo keeps AWS's fingerprint; the bytes are kept as given.
func NewPublicKey(der []byte, fingerprint string, start, end time.Time) (PublicKey, error) {
	rk, err := parseRSA(der)
	if err != nil {
		return PublicKey{}, err
	}
	fp := Fingerprint(x509.MarshalPKCS1PublicKey(rk))
	if fingerprint != "" && !strings.EqualFold(fingerprint, fp) {
		return PublicKey{}, fmt.Errorf("fingerprint %s does not match the key (the MD5 of its PKCS#1 DER is %s)", fingerprint, fp)
	}
	return PublicKey{Fingerprint: fp, Value: der, ValidityStart: start, ValidityEnd: end, key: rk}, nil
}

func parseAPITime(raw json.RawMessage) (time.Time, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return time.Time{}, nil
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return time.Time{}, err
		}
		if str == "" {
			return time.Time{}, nil
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999-07:00", "2006-01-02 15:04:05-07:00"} {
			if t, err := time.Parse(layout, str); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("unrecognised time %q", str)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("unrecognised time %s", s)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
}

// MarshalPublicKeys writes keys in the list-public-keys JSON shape, as
// evidence that needs no AWS call to use years later.
func MarshalPublicKeys(keys []PublicKey) ([]byte, error) {
	type entry struct {
		Value             string
		ValidityStartTime string
		ValidityEndTime   string
		Fingerprint       string
	}
	doc := struct{ PublicKeyList []entry }{PublicKeyList: []entry{}}
	for _, k := range keys {
		e := entry{Value: base64.StdEncoding.EncodeToString(k.Value), Fingerprint: k.Fingerprint, ValidityStartTime: k.ValidityStart.UTC().Format(time.RFC3339)}
		if !k.ValidityEnd.IsZero() {
			e.ValidityEndTime = k.ValidityEnd.UTC().Format(time.RFC3339)
		}
		doc.PublicKeyList = append(doc.PublicKeyList, e)
	}
	return json.MarshalIndent(doc, "", "  ")
}
