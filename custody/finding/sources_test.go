package finding

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFindingsAreMadeFromConstants: no finding anywhere in the module is
// made from a string literal kind, so that the compiler holds the kinds.
func TestFindingsAreMadeFromConstants(t *testing.T) {
	root := filepath.Join("..", "..")
	literal := regexp.MustCompile(`Finding\{[^}]*\bKind: +"|\b(?:[Ff]ail|[Ww]arn)\("[a-z]+-`)
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if loc := literal.FindIndex(b); loc != nil {
			line := 1 + strings.Count(string(b[:loc[0]]), "\n")
			t.Errorf("%s:%d: a finding made from a string literal kind: use a constant of package finding", rel, line)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Fatalf("only %d Go files found under %s", n, root)
	}
}
