package cloudtrail

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDependsOnFindingOnly: of package custody, CloudTrail validation
// needs only the vocabulary of findings, not the evidence store.
func TestDependsOnFindingOnly(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name != "cloudtrail" {
			continue
		}
		n++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			domain := p == "github.com/custody-ir/custody/custody" || strings.HasPrefix(p, "github.com/custody-ir/custody/custody/")
			if domain && p != "github.com/custody-ir/custody/custody/finding" {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
	if n < 5 {
		t.Fatalf("only %d files in package cloudtrail", n)
	}
}
