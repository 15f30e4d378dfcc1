package recovery

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDecideIsTheDocumentedTable keeps decide and the rule table of
// docs/recover.md row for row: the rules named in the table's last column,
// in its order, are the functions decide calls, in its order (noted, which
// adds the preserved list's note to a row's action, aside).
func TestDecideIsTheDocumentedTable(t *testing.T) {
	doc, err := os.ReadFile("../docs/recover.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	inTable := false
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| state at T | state now | action | rule |") {
			inTable = true
			continue
		}
		if inTable && !strings.HasPrefix(line, "|") {
			break
		}
		if !inTable || strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		for _, m := range regexp.MustCompile("`([A-Za-z]+)`").FindAllStringSubmatch(cells[len(cells)-1], -1) {
			if !slices.Contains(documented, m[1]) {
				documented = append(documented, m[1])
			}
		}
	}
	file, err := parser.ParseFile(token.NewFileSet(), "rules.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var called []string
	for _, d := range file.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "decide" || fn.Recv != nil {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if c, ok := n.(*ast.CallExpr); ok {
				if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name != "noted" && !slices.Contains(called, sel.Sel.Name) {
					called = append(called, sel.Sel.Name)
				}
			}
			return true
		})
	}
	if len(documented) == 0 || !slices.Equal(documented, called) {
		t.Errorf("docs/recover.md's rule table names %v;\ndecide in rules.go calls %v", documented, called)
	}
}
