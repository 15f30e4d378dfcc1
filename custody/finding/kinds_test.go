package finding

import (
	"encoding/json"
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// sources parses this package's non-test Go files, the ones the build
// selects (go/build applies the build constraints), by file name.
func sources(t *testing.T, mode parser.Mode) map[string]*ast.File {
	t.Helper()
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	for _, name := range pkg.GoFiles {
		f, err := parser.ParseFile(fset, name, nil, mode)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	if len(files) == 0 {
		t.Fatal("no Go files in the package")
	}
	return files
}

// constants reads the Kind constants of this package from its source:
// name -> value, and which have a doc comment that says when.
func constants(t *testing.T) (map[string]Kind, map[string]string) {
	t.Helper()
	values, docs := map[string]Kind{}, map[string]string{}
	for _, f := range sources(t, parser.ParseComments) {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Kind" {
					continue
				}
				for i, n := range vs.Names {
					v, err := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
					if err != nil {
						t.Fatal(err)
					}
					values[n.Name] = Kind(v)
					docs[n.Name] = vs.Doc.Text()
				}
			}
		}
	}
	if len(values) < 50 {
		t.Fatalf("only %d Kind constants found", len(values))
	}
	return values, docs
}

// TestKindsConstantsAndListAgree: every Kind constant is documented, has
// its own value and is in Kinds; Kinds holds nothing else.
func TestKindsConstantsAndListAgree(t *testing.T) {
	values, docs := constants(t)
	byValue := map[Kind]string{}
	for name, v := range values {
		if other, dup := byValue[v]; dup {
			t.Errorf("%s and %s are both %q", name, other, v)
		}
		byValue[v] = name
		if d := docs[name]; !strings.HasPrefix(d, name+": ") && !strings.HasPrefix(d, name+" is ") {
			t.Errorf("%s: no doc comment saying when it is reported (%q)", name, d)
		}
		if !regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`).MatchString(string(v)) {
			t.Errorf("%s = %q: not a lower-case kebab-case kind", name, v)
		}
	}
	listed := map[Kind]bool{}
	for _, s := range Kinds() {
		if _, ok := byValue[s.Kind]; !ok {
			t.Errorf("Kinds lists %q, which is no constant", s.Kind)
		}
		if s.Severity != Failure && s.Severity != Warning {
			t.Errorf("%s: severity %q", s.Kind, s.Severity)
		}
		if listed[s.Kind+" "+Kind(s.Severity)] {
			t.Errorf("Kinds lists %s (%s) twice", s.Kind, s.Severity)
		}
		listed[s.Kind+" "+Kind(s.Severity)] = true
		listed[s.Kind] = true
	}
	for name, v := range values {
		if !listed[v] {
			t.Errorf("%s (%q) is not in Kinds", name, v)
		}
	}
}

// TestCloudTrailKinds: each validation kind under CloudTrail is a constant,
// at the same severity, counted for the CloudTrail collector.
func TestCloudTrailKinds(t *testing.T) {
	collected := map[Spec]bool{}
	for _, s := range Collected("cloudtrail") {
		collected[s] = true
	}
	for _, s := range Validation() {
		if !collected[Spec{CloudTrail(s.Kind), s.Severity, "cloudtrail"}] {
			t.Errorf("%s (%s) is not collected by the CloudTrail collector", CloudTrail(s.Kind), s.Severity)
		}
	}
	if CloudTrail(LogMissing) != CloudTrailLogMissing || CloudTrail(DigestMissing) != CloudTrailDigestMissing {
		t.Fatalf("CloudTrail(%s) = %s", LogMissing, CloudTrail(LogMissing))
	}
	if Recorded(RunFailed) != "recorded-run-failed" {
		t.Fatalf("Recorded(%s) = %s", RunFailed, Recorded(RunFailed))
	}
	if len(Collected("")) != 0 || len(Collected("posture")) != 4 || len(Collected("versions")) != 1 || len(Collected("config")) != 3 {
		t.Fatalf("Collected: %v %v %v %v", Collected(""), Collected("posture"), Collected("versions"), Collected("config"))
	}
}

// TestDocsListEveryKind keeps docs/verify.md's table of finding kinds and
// the constants identical both ways, severities included.
func TestDocsListEveryKind(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "verify.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Finding kinds\n")
	if !ok {
		t.Fatal("docs/verify.md has no \"## Finding kinds\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("^\\| `([a-z0-9*-]+)` \\| ([a-z, ]+) \\| [^|]+ \\| [^|]+ \\|$")
	documented := map[Kind]string{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("docs/verify.md: not a row of kind, severity, reported by, when: %s", line)
			continue
		}
		if _, dup := documented[Kind(m[1])]; dup {
			t.Errorf("docs/verify.md lists %s twice", m[1])
		}
		documented[Kind(m[1])] = m[2]
	}
	severities := map[Kind][]string{}
	for _, s := range Kinds() {
		severities[s.Kind] = append(severities[s.Kind], string(s.Severity))
	}
	for k, sev := range severities {
		sort.Strings(sev)
		doc, ok := documented[k]
		if !ok {
			t.Errorf("kind %s is not in docs/verify.md's table", k)
			continue
		}
		if want := strings.Join(sev, ", "); doc != want {
			t.Errorf("docs/verify.md: %s is %q, Kinds says %q", k, doc, want)
		}
	}
	for k, sev := range documented {
		switch {
		case k == Recorded("*"):
			if sev != string(Warning) {
				t.Errorf("docs/verify.md: %s is %q, verify reports them as warnings", k, sev)
			}
		case severities[k] == nil:
			t.Errorf("docs/verify.md documents %s, which is no constant", k)
		}
	}
	if len(documented) < 50 {
		t.Fatalf("only %d kinds in docs/verify.md", len(documented))
	}
}

// TestLeaf: the package imports nothing from this module, so that any
// package can report findings.
func TestLeaf(t *testing.T) {
	for name, f := range sources(t, parser.ImportsOnly) {
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.HasPrefix(p, "github.com/custody-ir/custody") {
				t.Errorf("%s imports %s", name, p)
			}
		}
	}
}

// TestJSON: the JSON of a finding is what it always was (the reports'
// contract).
func TestJSON(t *testing.T) {
	b, err := json.Marshal(Finding{Severity: Failure, Kind: ArtifactDigestMismatch, Object: "s3://b/k?versionId=1", Message: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"severity":"failure","kind":"artifact-digest-mismatch","object":"s3://b/k?versionId=1","message":"m"}`; string(b) != want {
		t.Fatalf("%s, want %s", b, want)
	}
	var fs Findings
	fs.Warn(TimestampMissing, "o", "r", "n %d", 1)
	fs.Fail(CaseMissing, "c", "", "x")
	if fs.Failures() != 1 || fs[0].String() != "warning timestamp-missing o: n 1 (r)" || fs[1].String() != "failure case-missing c: x" {
		t.Fatalf("%v", fs)
	}
}
