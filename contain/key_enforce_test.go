package contain

// The shipped containment policy, enforced: contain key and contain role
// run as a principal holding configs/iam/contain-policy.json, filled in,
// against a moto server of the test's own that enforces IAM, sealing into
// MinIO; then each permission the policy grants is taken away in turn,
// and the error names it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
	"github.com/custody-ir/custody/search"
)

const (
	enforceAccount = "123456789012" // moto's
	containName    = "custody-contain"
)

var placeholderRE = regexp.MustCompile(`\b[A-Z][A-Z0-9_]*[A-Z0-9]\b`)

// shippedContainPolicy is configs/iam/contain-policy.json filled in. The
// placeholders of statements other than ContainKey's (FreezeBucket's
// buckets) get their own name in lower case: their grants are checked by
// the freeze tests.
func shippedContainPolicy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "configs", "iam", "contain-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{"MONITORED_ACCOUNT_ID": enforceAccount, "CONTAIN_ROLE_NAME": containName}
	doc := placeholderRE.ReplaceAllStringFunc(string(b), func(w string) string {
		if v, ok := values[w]; ok {
			return v
		}
		return strings.ToLower(strings.ReplaceAll(w, "_", "-"))
	})
	for _, st := range parsePolicy(t, doc) {
		if r, _ := json.Marshal(st.Resource); strings.HasPrefix(st.Sid, "ContainKey") && placeholderRE.MatchString(string(r)) {
			t.Fatalf("contain-policy.json %s: a placeholder without a value in %s", st.Sid, r)
		}
	}
	return doc
}

type policyStatement struct {
	Sid, Effect      string
	Action, Resource any
}

func parsePolicy(t *testing.T, doc string) []policyStatement {
	t.Helper()
	var p struct {
		Version   string
		Statement []policyStatement
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil || p.Version != "2012-10-17" {
		t.Fatalf("contain-policy.json: %v (version %q)", err, p.Version)
	}
	return p.Statement
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

// withoutAction is the policy with action taken out of its Allow
// statements.
func withoutAction(t *testing.T, doc, action string) string {
	t.Helper()
	var kept []policyStatement
	for _, st := range parsePolicy(t, doc) {
		if st.Effect == "Allow" {
			var rest []any
			for _, a := range strs(st.Action) {
				if a != action {
					rest = append(rest, a)
				}
			}
			if len(rest) == 0 {
				continue
			}
			st.Action = rest
		}
		kept = append(kept, st)
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": kept})
	return string(b)
}

// TestContainPolicyShape: the ContainKey statements grant the reads and
// the two writes containment makes, nothing that deletes, creates or
// attaches; and every IAM write they allow is denied on the containment
// role itself. moto evaluates IAM calls against the resource "*", so this
// Deny is checked here, on the document, and not under enforcement.
func TestContainPolicyShape(t *testing.T) {
	var allowed []string
	denied := map[string][]string{}
	for _, st := range parsePolicy(t, shippedContainPolicy(t)) {
		if !strings.HasPrefix(st.Sid, "ContainKey") && !strings.HasPrefix(st.Sid, "FreezeBucket") {
			t.Errorf("statement %q: Sids start with ContainKey (or FreezeBucket)", st.Sid)
		}
		if !strings.HasPrefix(st.Sid, "ContainKey") {
			continue
		}
		for _, a := range strs(st.Action) {
			if st.Effect == "Allow" {
				allowed = append(allowed, a)
			} else {
				denied[a] = append(denied[a], strs(st.Resource)...)
			}
		}
	}
	want := "iam:GetAccessKeyLastUsed iam:GetUser iam:ListAccessKeys iam:GetRole iam:GetRolePolicy iam:UpdateAccessKey iam:PutRolePolicy"
	if strings.Join(allowed, " ") != want {
		t.Errorf("ContainKey allows %v, want %s", allowed, want)
	}
	self := "arn:aws:iam::" + enforceAccount + ":role/" + containName
	for _, a := range []string{"iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:UpdateAccessKey"} {
		if !strings.Contains(strings.Join(denied[a], " "), self) {
			t.Errorf("%s is not denied on the containment role itself (%s)", a, self)
		}
	}
	for _, a := range allowed {
		for _, bad := range []string{"Delete", "Create", "Attach", "*"} {
			if strings.Contains(a, bad) {
				t.Errorf("ContainKey allows %s", a)
			}
		}
	}
}

// enforceFixture is moto enforcing IAM, the containment principal with
// the shipped policy, and an evidence store on MinIO.
type enforceFixture struct {
	admin  *iam.Client
	keys   *Keys
	sealer *ChainSealer
	policy string
	n      int
}

func newEnforceFixture(t *testing.T) *enforceFixture {
	t.Helper()
	ctx := context.Background()
	le := testaws.Require(t)
	m := testaws.StartMoto(t)
	ic := iam.NewFromConfig(m.Anonymous(t).AWS)
	newUser := func(name, policy string) [2]string {
		if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		if _, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(name), PolicyDocument: aws.String(policy)}); err != nil {
			t.Fatal(err)
		}
		k, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return [2]string{aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)}
	}
	f := &enforceFixture{policy: shippedContainPolicy(t)}
	// moto enforces the policies of users (a role needs assuming): the
	// containment principal here is a user of the containment role's name.
	containKey := newUser(containName, f.policy)
	adminKey := newUser("admin", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
	m.Enforce(t)
	if _, err := ic.ListUsers(ctx, &iam.ListUsersInput{}); err == nil {
		t.Fatal("IAM is not enforced: a request with unknown credentials succeeded")
	}
	f.admin = iam.NewFromConfig(m.Config(t, adminKey[0], adminKey[1]).AWS)
	f.keys = &Keys{IAM: iam.NewFromConfig(m.Config(t, containKey[0], containKey[1]).AWS), Now: time.Now}

	// The evidence store, on MinIO.
	minio := le.S3(t)
	st := config.Store{Bucket: testaws.BucketName(t), Prefix: "custody", Retention: config.Retention{Mode: config.ModeGovernance, Days: 1}}
	if _, err := custody.InitBucket(ctx, minio, st); err != nil {
		t.Fatal(err)
	}
	store, err := custody.OpenStore(ctx, minio, st, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := custody.Keygen(filepath.Join(dir, "k.pem"), []byte("pass")); err != nil {
		t.Fatal(err)
	}
	signer, err := custody.LoadSigner(ctx, config.Signer{Key: "file://" + filepath.Join(dir, "k.pem"), PassphraseEnv: "P"}, func(string) string { return "pass" })
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctx, filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	chain, err := custody.NewChain(store, minio, l, signer, "contain-enforce", custody.Who{Host: "test"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	f.sealer = &ChainSealer{Chain: chain, Catalog: search.LedgerCatalog{Ledger: l, Bucket: st.Bucket}, Store: minio}
	return f
}

// victims makes a user with an Active key and a role, as the admin.
func (f *enforceFixture) victims(t *testing.T) (key string, role RoleARN) {
	t.Helper()
	ctx := context.Background()
	f.n++
	user := fmt.Sprintf("victim-%d", f.n)
	// A retried create (moto slow on a loaded machine) finds what its
	// first try made.
	if _, err := f.admin.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil && !exists(err) {
		t.Fatal(err)
	}
	k, err := f.admin.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	name := aws.String(fmt.Sprintf("app-%d", f.n))
	_, err = f.admin.CreateRole(ctx, &iam.CreateRoleInput{RoleName: name,
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil && !exists(err) {
		t.Fatal(err)
	}
	r, err := f.admin.GetRole(ctx, &iam.GetRoleInput{RoleName: name})
	if err != nil {
		t.Fatal(err)
	}
	role, err = ParseRoleARN(aws.ToString(r.Role.Arn))
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(k.AccessKey.AccessKeyId), role
}

func exists(err error) bool {
	var e *iamtypes.EntityAlreadyExistsException
	return errors.As(err, &e)
}

// both contains a key and a role's sessions, returning each one's error.
func (f *enforceFixture) both(t *testing.T, caseID string) []error {
	t.Helper()
	ctx := context.Background()
	key, role := f.victims(t)
	var errs []error
	for _, tg := range []Target{{AccessKey: key, Case: caseID}, {Role: &role, RoleFrom: "--role", Case: caseID}} {
		before, err := f.keys.Read(ctx, tg)
		if err == nil {
			_, err = Contain(ctx, f.keys, f.sealer, tg, before)
		}
		errs = append(errs, err)
	}
	return errs
}

func TestContainUnderIAMEnforcement(t *testing.T) {
	f := newEnforceFixture(t)
	ctx := context.Background()
	for i, err := range f.both(t, "IR-E") {
		if err != nil {
			t.Fatalf("containment %d with the shipped policy: %v", i, err)
		}
	}
	// Every permission the policy grants, taken away in turn: the
	// containment fails, naming it, and says what is sealed.
	for _, st := range parsePolicy(t, f.policy) {
		if st.Effect != "Allow" || !strings.HasPrefix(st.Sid, "ContainKey") {
			continue
		}
		for _, action := range strs(st.Action) {
			t.Run("without "+action, func(t *testing.T) {
				if _, err := f.admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(containName), PolicyName: aws.String(containName),
					PolicyDocument: aws.String(withoutAction(t, f.policy, action))}); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if _, err := f.admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(containName), PolicyName: aws.String(containName),
						PolicyDocument: aws.String(f.policy)}); err != nil {
						t.Fatal(err)
					}
				}()
				named := false
				for _, err := range f.both(t, "IR-E") {
					if err != nil && strings.Contains(err.Error(), action) {
						named = true
						t.Logf("%v", err)
					}
				}
				if !named {
					t.Fatalf("nothing names %s: the shipped policy grants it, yet nothing needs it", action)
				}
			})
		}
	}
}
