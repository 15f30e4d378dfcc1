package collector

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

func TestTrustedPrincipals(t *testing.T) {
	for _, c := range []struct {
		name, doc, want string
		err             bool
	}{
		{"one AWS principal", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"}}]}`, "AWS:arn:aws:iam::111122223333:root", false},
		{"a statement alone, not a list", `{"Statement":{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"}}}`, "Service:ec2.amazonaws.com", false},
		{"everyone", `{"Statement":[{"Effect":"Allow","Principal":"*"}]}`, "*", false},
		{"AWS everyone", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*","111122223333"]}}]}`, "*,AWS:111122223333", false},
		{"a map of lists", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:x","arn:aws:iam::2:y"],"Federated":"cognito-identity.amazonaws.com"}}]}`,
			"AWS:arn:aws:iam::1:x,AWS:arn:aws:iam::2:y,Federated:cognito-identity.amazonaws.com", false},
		{"Deny is no trust", `{"Statement":[{"Effect":"Deny","Principal":"*"}]}`, "", false},
		{"NotPrincipal with Allow trusts everyone else", `{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"x"}}]}`, "*", false},
		{"repeated", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"a"}},{"Effect":"Allow","Principal":{"AWS":["a"]}}]}`, "AWS:a", false},
		{"no statement", `{}`, "", false},
		{"not JSON", `{"Statement":`, "", true},
		{"a principal that is a number", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":12}}]}`, "", true},
		{"a principal string other than *", `{"Statement":[{"Effect":"Allow","Principal":"root"}]}`, "", true},
		{"a statement that is a string", `{"Statement":"x"}`, "", true},
	} {
		got, err := TrustedPrincipals([]byte(c.doc))
		if strings.Join(got, ",") != c.want || (err != nil) != c.err {
			t.Errorf("%s: %q, %v; want %q (error %v)", c.name, got, err, c.want, c.err)
		}
	}
}

func TestPrincipalAccount(t *testing.T) {
	for p, want := range map[string]string{
		"AWS:111122223333":                               "111122223333",
		"AWS:arn:aws:iam::111122223333:root":             "111122223333",
		"AWS:arn:aws:sts::111122223333:assumed-role/r/s": "111122223333",
		"AWS:arn:aws-cn:iam::111122223333:user/u":        "111122223333",
		"*":                         "*",
		"Service:ec2.amazonaws.com": "",
		"AWS:AIDAEXAMPLE":           "",
	} {
		if got := PrincipalAccount(p); got != want {
			t.Errorf("PrincipalAccount(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestDecodePolicy(t *testing.T) {
	doc := `{"Statement":[{"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::a+b/*"}],"Version":"2012-10-17"}`
	enc := strings.ReplaceAll(url.PathEscape(doc), "+", "%2B")
	for _, in := range []string{enc, doc, " " + doc} {
		got, err := decodePolicy(in)
		if err != nil || !json.Valid(got) || !strings.Contains(string(got), "a+b/*") {
			t.Errorf("decodePolicy(%.30q) = %s, %v", in, got, err)
		}
	}
	if got, err := decodePolicy("%zz"); err == nil || !json.Valid(got) {
		t.Errorf("a bad encoding: %s, %v", got, err)
	}
	if got, err := decodePolicy("%7Bnot"); err == nil || !json.Valid(got) {
		t.Errorf("not JSON: %s, %v", got, err)
	}
}

func TestParseCredentialReport(t *testing.T) {
	good := "user,arn,password_enabled\n<root_account>,arn:aws:iam::1:root,not_supported\nalice,arn:aws:iam::1:user/alice,false\n"
	rep, err := ParseCredentialReport(strings.NewReader(good))
	if err != nil || len(rep.Rows) != 2 || rep.Rows[1]["user"] != "alice" || rep.Rows[0]["password_enabled"] != "not_supported" {
		t.Fatalf("%+v, %v", rep, err)
	}
	for name, bad := range map[string]string{
		"empty":           "",
		"no user column":  "arn,x\n1,2\n",
		"a short row":     "user,arn\nalice\n",
		"repeated column": "user,arn,user\n",
		"broken quote":    "user,arn\n\"alice,x\n",
	} {
		if _, err := ParseCredentialReport(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDiffState(t *testing.T) {
	if diffState(nil, map[string]string{"a": "1"}) != nil {
		t.Fatal("the first snapshot is the baseline")
	}
	got := diffState(map[string]string{"a": "1", "b": "2"}, map[string]string{"b": "3", "c": "4"})
	var s []string
	for _, c := range got {
		s = append(s, c.Item+":"+c.Change)
	}
	if strings.Join(s, ",") != "a:removed,b:changed,c:added" {
		t.Fatalf("%v", s)
	}
}

// FuzzTrustedPrincipals: a trust or key policy from the account under
// investigation, whatever it holds, gives principals or an error, never
// a panic, and every principal is "*" or TYPE:VALUE.
func FuzzTrustedPrincipals(f *testing.F) {
	for _, s := range []string{
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"}}]}`,
		`{"Statement":{"Effect":"Allow","Principal":"*"}}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*","1"],"Service":["a","b"]}}]}`,
		`{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"x"}}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":[1,{}]}}]}`, `[]`, `null`, `{"Statement":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		ps, _ := TrustedPrincipals(doc)
		for _, p := range ps {
			if p != PrincipalEveryone && !strings.Contains(p, ":") {
				t.Fatalf("principal %q", p)
			}
			_ = PrincipalAccount(p)
		}
		_, _ = decodePolicy(string(doc))
	})
}

// FuzzParseCredentialReport: any bytes parse or fail, never panic, and a
// parsed row has every column of the header.
func FuzzParseCredentialReport(f *testing.F) {
	f.Add([]byte("user,arn,user_creation_time\n<root_account>,arn:aws:iam::1:root,2026-01-01T00:00:00+00:00\n"))
	f.Add([]byte("user,arn\n\"a,b\",\"x\"\"y\"\n"))
	f.Add([]byte("user,arn\nalice\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := ParseCredentialReport(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, r := range rep.Rows {
			if len(r) != len(rep.Columns) {
				t.Fatalf("row %v, columns %v", r, rep.Columns)
			}
		}
	})
}

// TestUnconditionalPrincipals: TrustedPrincipals' names, of the Allow
// statements without a Condition only ({} and null are none); a Condition
// that is not an object is an error, the statement unread.
func TestUnconditionalPrincipals(t *testing.T) {
	for _, c := range []struct {
		name, doc, want string
		err             bool
	}{
		{"everyone", `{"Statement":[{"Effect":"Allow","Principal":"*"}]}`, "*", false},
		{"AWS everyone among others", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"s","AWS":["1","*"]}}]}`, "*,AWS:1,Service:s", false},
		{"NotPrincipal", `{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"x"}}}`, "*", false},
		{"a condition leaves it out", `{"Statement":[{"Effect":"Allow","Principal":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},{"Effect":"Allow","Principal":{"AWS":"a"}}]}`, "AWS:a", false},
		{"NotPrincipal with a condition", `{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"x"},"Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}`, "", false},
		{"an empty condition", `{"Statement":[{"Effect":"Allow","Principal":"*","Condition":{}}]}`, "*", false},
		{"a null condition", `{"Statement":[{"Effect":"Allow","Principal":"*","Condition":null}]}`, "*", false},
		{"Deny", `{"Statement":[{"Effect":"Deny","Principal":"*"}]}`, "", false},
		{"a condition not an object", `{"Statement":[{"Effect":"Allow","Principal":"*","Condition":"x"}]}`, "", true},
		{"not JSON", `{`, "", true},
	} {
		got, err := UnconditionalPrincipals([]byte(c.doc))
		if strings.Join(got, ",") != c.want || (err != nil) != c.err {
			t.Errorf("%s: %q, %v; want %q (error %v)", c.name, got, err, c.want, c.err)
		}
	}
	// TrustedPrincipals keeps counting a conditional Allow.
	if got, err := TrustedPrincipals([]byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Condition":{"StringEquals":{"k":"v"}}}]}`)); err != nil || strings.Join(got, ",") != "*" {
		t.Errorf("TrustedPrincipals of a conditional Allow: %q, %v", got, err)
	}
}
