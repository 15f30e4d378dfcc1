package custody

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/custody-ir/custody/custody/finding"
)

// Limits on what a package may make verify unpack.
const (
	maxBundleEntries = 10_000_000
	maxBundleBytes   = 1 << 40 // 1 TiB
)

// ErrBadBundle means a package cannot be unpacked safely.
var ErrBadBundle = errors.New("not a valid custody export package")

// VerifyBundle checks an exported package offline: every file against
// SHA256SUMS, then the manifests, chain and artifacts inside it as verify
// checks a bucket (without the Object Lock checks a file cannot show).
// Without trust, the keys in the package are used, and the report names
// them so the recipient can compare their ids with those given to them.
func VerifyBundle(ctx context.Context, pkg string, o VerifyOptions, trust []TrustedKey, now func() time.Time) (*Report, error) {
	dir, err := os.MkdirTemp("", "custody-bundle-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	root, err := unpack(pkg, dir)
	if err != nil {
		return nil, err
	}
	var bf Findings
	checkSums(root, &bf)

	raw, err := os.ReadFile(filepath.Join(root, bundleIndex))
	if err != nil {
		return nil, fmt.Errorf("%w: %s has no %s", ErrBadBundle, pkg, bundleIndex)
	}
	var bi BundleIndex
	if err := json.Unmarshal(raw, &bi); err != nil || bi.Format != bundleFormat {
		return nil, fmt.Errorf("%w: %s: %s is not a %s index (%v)", ErrBadBundle, pkg, bundleIndex, bundleFormat, err)
	}
	if trust == nil {
		if trust, err = loadBundleKeys(root); err != nil {
			return nil, err
		}
	}
	if o.Since.IsZero() && o.Until.IsZero() && o.Case == "" {
		o.Since, o.Until, o.Case = bi.Selection.Since, bi.Selection.Until, bi.Selection.Case
	}
	src, err := newBundleSource(root, bi, &bf)
	if err != nil {
		return nil, err
	}
	v := &Verifier{src: src, bucket: bi.Bucket, prefix: bi.Prefix, trust: trust, now: now}
	if pemBytes, err := os.ReadFile(filepath.Join(root, bundleTSAChain)); err == nil {
		chain, err := ParseTSAChain(pemBytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadBundle, bundleTSAChain, err)
		}
		v.TSA = &chain
	}
	r, err := v.Verify(ctx, o)
	if err != nil {
		return nil, err
	}
	r.Findings = append(bf, r.Findings...)
	r.conclude()
	return r, nil
}

// unpack extracts a tar.gz into dir, refusing anything but regular files
// and folders inside one root folder: no absolute paths, no "..", no
// links, devices or duplicates. It returns the root folder's path.
func unpack(pkg, dir string) (string, error) {
	f, err := os.Open(pkg)
	if err != nil {
		return "", err
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrBadBundle, pkg, err)
	}
	tr := tar.NewReader(gz)
	var root string
	var total int64
	seen := map[string]bool{}
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrBadBundle, pkg, err)
		}
		if n >= maxBundleEntries {
			return "", fmt.Errorf("%w: %s: more than %d entries", ErrBadBundle, pkg, maxBundleEntries)
		}
		name := hdr.Name
		clean := path.Clean(name)
		if name == "" || path.IsAbs(name) || clean != strings.TrimSuffix(name, "/") || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(name, "\\") {
			return "", fmt.Errorf("%w: %s: unsafe entry name %q", ErrBadBundle, pkg, name)
		}
		top, _, _ := strings.Cut(clean, "/")
		if root == "" {
			root = top
		} else if top != root {
			return "", fmt.Errorf("%w: %s: entry %q is outside the package folder %q", ErrBadBundle, pkg, name, root)
		}
		if seen[clean] {
			return "", fmt.Errorf("%w: %s: entry %q appears twice", ErrBadBundle, pkg, name)
		}
		seen[clean] = true
		target := filepath.Join(dir, filepath.FromSlash(clean))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return "", err
			}
		case tar.TypeReg:
			if hdr.Size < 0 || total+hdr.Size > maxBundleBytes {
				return "", fmt.Errorf("%w: %s: entry %q would take the package past %d bytes", ErrBadBundle, pkg, name, int64(maxBundleBytes))
			}
			total += hdr.Size
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				return "", err
			}
			out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return "", fmt.Errorf("%w: %s: entry %q: %v", ErrBadBundle, pkg, name, err)
			}
			_, err = io.Copy(out, io.LimitReader(tr, hdr.Size))
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return "", fmt.Errorf("%w: %s: entry %q: %v", ErrBadBundle, pkg, name, err)
			}
		default:
			return "", fmt.Errorf("%w: %s: entry %q is not a regular file or folder (type %q): links are refused", ErrBadBundle, pkg, name, hdr.Typeflag)
		}
	}
	if root == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrBadBundle, pkg)
	}
	return filepath.Join(dir, root), nil
}

// checkSums checks every file against SHA256SUMS and reports files that
// are missing, altered or not listed.
func checkSums(root string, fs_ *Findings) {
	sums, err := os.ReadFile(filepath.Join(root, bundleSums))
	if err != nil {
		fs_.Fail(finding.BundleSumsMissing, bundleSums, "ask the sender for the package again", "the package has no %s", bundleSums)
		return
	}
	listed := map[string]bool{bundleSums: true}
	for i, line := range strings.Split(strings.TrimRight(string(sums), "\n"), "\n") {
		want, name, ok := strings.Cut(line, "  ")
		if !ok || len(want) != 64 {
			fs_.Fail(finding.BundleSumsMalformed, fmt.Sprintf("%s line %d", bundleSums, i+1), "ask the sender for the package again", "not a sha256sum line: %q", line)
			continue
		}
		listed[name] = true
		got, err := fileSHA256(filepath.Join(root, filepath.FromSlash(name)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fs_.Fail(finding.BundleFileMissing, name, "ask the sender for the package again", "listed in %s but not in the package", bundleSums)
		case err != nil:
			fs_.Fail(finding.BundleFileUnreadable, name, "", "%v", err)
		case got != want:
			fs_.Fail(finding.BundleFileModified, name, "the package was altered after export: ask the sender for the package again", "hashes to %s, %s lists %s", got, bundleSums, want)
		}
	}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if name := filepath.ToSlash(rel); !listed[name] {
			fs_.Fail(finding.BundleUnlistedFile, name, "the package was altered after export: ask the sender for the package again", "not listed in %s", bundleSums)
		}
		return nil
	})
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func loadBundleKeys(root string) ([]TrustedKey, error) {
	entries, err := os.ReadDir(filepath.Join(root, bundleKeys))
	if err != nil {
		return nil, fmt.Errorf("%w: no %s folder", ErrBadBundle, bundleKeys)
	}
	var out []TrustedKey
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(root, bundleKeys, e.Name()))
		if err != nil {
			return nil, err
		}
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %s%s is not a PEM public key", ErrBadBundle, bundleKeys, e.Name())
		}
		k, err := NewTrustedKey(strings.TrimSuffix(e.Name(), ".pub"), pub, time.Time{}, time.Time{})
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// bundleSource serves an unpacked package as an evidence source.
type bundleSource struct {
	root    string
	entries []BundleEntry
	byID    map[string]BundleEntry
}

func newBundleSource(root string, bi BundleIndex, f *Findings) (*bundleSource, error) {
	s := &bundleSource{root: root, byID: map[string]BundleEntry{}}
	for _, e := range bi.Objects {
		clean := path.Clean(e.File)
		if !strings.HasPrefix(clean, bundleObjects) || strings.Contains(clean, "..") {
			f.Fail(finding.BundleIndexMalformed, e.File, "ask the sender for the package again", "index entry for %s points outside objects/", e.Key)
			continue
		}
		e.File = clean
		s.entries = append(s.entries, e)
		s.byID[e.Key+"\x00"+e.VersionID] = e
	}
	sort.SliceStable(s.entries, func(i, j int) bool { return s.entries[i].Key < s.entries[j].Key })
	return s, nil
}

func (s *bundleSource) Offline() bool { return true }

func (s *bundleSource) Versions(_ context.Context, prefix string, fn func(ObjectVersion) error) error {
	for _, e := range s.entries {
		if strings.HasPrefix(e.Key, prefix) {
			if err := fn(e.ObjectVersion); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *bundleSource) Open(_ context.Context, key, versionID string) (io.ReadCloser, ObjectMeta, error) {
	e, ok := s.byID[key+"\x00"+versionID]
	if !ok {
		return nil, ObjectMeta{}, ErrVersionMissing
	}
	f, err := os.Open(filepath.Join(s.root, filepath.FromSlash(e.File)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ObjectMeta{}, ErrVersionMissing
	}
	if err != nil {
		return nil, ObjectMeta{}, err
	}
	return f, e.Meta, nil
}
