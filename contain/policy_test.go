package contain

import (
	"strings"
	"testing"
)

// TestOpensToEveryone: every form of "everyone" an Allow can name without
// a condition is an exposure unfreeze warns about; a condition or a Deny
// is not; a policy that cannot be read is an error (unfreeze says to
// check it), never "not open".
func TestOpensToEveryone(t *testing.T) {
	const (
		open    = "open"
		closed  = "closed"
		unknown = "unknown"
	)
	stmt := func(s string) string { return `{"Version":"2012-10-17","Statement":[` + s + `]}` }
	for _, c := range []struct{ name, policy, want string }{
		{"no policy", "", closed},
		{"Principal *", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}`), open},
		{"AWS *", stmt(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"*"}`), open},
		{"AWS [*]", stmt(`{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"s3:GetObject","Resource":"*"}`), open},
		{"a list mixing an account and *", stmt(`{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","*"]},"Action":"s3:GetObject","Resource":"*"}`), open},
		{"Service and AWS * together", stmt(`{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com","AWS":"*"},"Action":"s3:PutObject","Resource":"*"}`), open},
		{"NotPrincipal Allow", stmt(`{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:*","Resource":"*"}`), open},
		{"a single statement without its list", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}}`, open},
		{"an empty Condition is no condition", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{}}`), open},
		{"open among closed statements", stmt(`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:*","Resource":"*"},{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}`), open},
		{"Allow * with a Condition", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}`), closed},
		{"NotPrincipal with a Condition", stmt(`{"Effect":"Allow","NotPrincipal":{"AWS":"x"},"Action":"s3:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}`), closed},
		{"Deny with Principal *", stmt(`{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`), closed},
		{"Deny with NotPrincipal", stmt(`{"Effect":"Deny","NotPrincipal":{"AWS":"x"},"Action":"s3:*","Resource":"*"}`), closed},
		{"one account", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:*","Resource":"*"}`), closed},
		{"freeze's own statement", stmt(`{"Sid":"CustodyFreeze","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"*","Condition":{"StringNotLike":{"aws:userid":["AROA:*"]}}}`), closed},
		{"not JSON", `{"Statement":[`, unknown},
		{"a key twice", stmt(`{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Effect":"Allow"}`), unknown},
		{"a principal of no known form", stmt(`{"Effect":"Allow","Principal":{"AWS":7},"Action":"s3:*","Resource":"*"}`), unknown},
		{"a Condition that is not an object", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Condition":"none"}`), unknown},
		{"two documents", stmt(``) + stmt(``), unknown},
	} {
		got, err := opensToEveryone(c.policy)
		state := closed
		switch {
		case got:
			state = open
		case err != nil:
			state = unknown
		}
		if state != c.want {
			t.Errorf("%s: %s (%v), want %s\n%s", c.name, state, err, c.want, c.policy)
		}
		if got && err != nil {
			t.Errorf("%s: open and an error (%v): one answer", c.name, err)
		}
		if err != nil && !strings.Contains(err.Error(), "policy") {
			t.Errorf("%s: the error does not say what it is about: %v", c.name, err)
		}
	}
}
