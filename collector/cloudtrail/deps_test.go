package cloudtrail

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDependsOnFindingOnly: of package custody, CloudTrail validation
// needs only the vocabulary of findings, not the evidence store.
func TestDependsOnFindingOnly(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, f := range pkgs["cloudtrail"].Files {
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
