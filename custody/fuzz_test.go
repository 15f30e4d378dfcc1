package custody

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		signatureBytes(env)
	})
}

// FuzzUnpack: no package, however hostile, writes outside its folder.
func FuzzUnpack(f *testing.F) {
	mk := func(entries map[string]string, typ byte) []byte {
		var buf bytes.Buffer
		gw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gw)
		for name, body := range entries {
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Size: int64(len(body)), Mode: 0o644, Linkname: "/etc/passwd"})
			tw.Write([]byte(body))
		}
		tw.Close()
		gw.Close()
		return buf.Bytes()
	}
	f.Add(mk(map[string]string{"root/a": "x", "root/b/c": "y"}, tar.TypeReg))
	f.Add(mk(map[string]string{"root/../../escape": "x"}, tar.TypeReg))
	f.Add(mk(map[string]string{"root/link": ""}, tar.TypeSymlink))
	f.Add([]byte("not a package"))
	f.Fuzz(func(t *testing.T, b []byte) {
		outer := t.TempDir()
		dir := filepath.Join(outer, "unpack")
		os.Mkdir(dir, 0o700)
		pkg := filepath.Join(outer, "p.tar.gz")
		os.WriteFile(pkg, b, 0o600)
		unpack(pkg, dir)
		filepath.Walk(outer, func(p string, info os.FileInfo, err error) error {
			if err == nil && p != outer && p != pkg && !strings.HasPrefix(p, dir) {
				t.Fatalf("unpack wrote %s outside its folder", p)
			}
			if err == nil && info.Mode()&os.ModeSymlink != 0 {
				t.Fatalf("unpack created a link %s", p)
			}
			return nil
		})
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
