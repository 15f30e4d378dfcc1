package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/contain"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// containFixture is an evidence store (newSafetyStore) and the shared
// moto's IAM, with users and roles named for this test alone.
type containFixture struct {
	*safetyStore
	iam    *iam.Client
	suffix string
	bin    binRun
	prefix string // store.prefix
}

func newContainFixture(t *testing.T) *containFixture {
	t.Helper()
	s := newSafetyStore(t)
	f := &containFixture{safetyStore: s, iam: iam.NewFromConfig(s.env.Config(t).AWS), suffix: fmt.Sprint(time.Now().UnixNano() % 1e10),
		bin: binRun{env: []string{"CUSTODY_KEY_PASSPHRASE=test passphrase", "CUSTODY_CONFIG=" + s.cfg}}}
	cfg, err := cli.LoadConfig(cli.ConfigSource{File: s.cfg})
	if err != nil {
		t.Fatal(err)
	}
	f.prefix = cfg.Store.Prefix
	return f
}

// user creates a user with two access keys: the compromised one, and
// another that must stay Active.
func (f *containFixture) user(t *testing.T, name string) (compromised, other string) {
	t.Helper()
	ctx := context.Background()
	if _, err := testaws.CreateUser(ctx, f.iam, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		k, err := f.iam.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(k.AccessKey.AccessKeyId))
	}
	return ids[0], ids[1]
}

// keyStatus is the status IAM lists for key of user ("" when not listed).
func (f *containFixture) keyStatus(t *testing.T, user, key string) string {
	t.Helper()
	out, err := f.iam.ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range out.AccessKeyMetadata {
		if aws.ToString(m.AccessKeyId) == key {
			return string(m.Status)
		}
	}
	return ""
}

func (f *containFixture) role(t *testing.T, name string) string {
	t.Helper()
	out, err := testaws.CreateRole(context.Background(), f.iam, &iam.CreateRoleInput{RoleName: aws.String(name),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Role.Arn)
}

// revokePolicy is the role's AWSRevokeOlderSessions document ("" when none).
func (f *containFixture) revokePolicy(t *testing.T, role string) string {
	t.Helper()
	out, err := f.iam.GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(contain.RevokePolicyName)})
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	doc, err := url.QueryUnescape(aws.ToString(out.PolicyDocument))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// contain runs the custody binary's contain command with --json.
func (f *containFixture) contain(t *testing.T, args ...string) (containResult, string, int) {
	t.Helper()
	out, errOut, code := f.bin.run(t, append([]string{"--json", "contain"}, args...)...)
	var res containResult
	if code == 0 {
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("contain %v: %v\n%s", args, err, out)
		}
	}
	return res, errOut, code
}

// sealedState reads a sealed state named in a manifest ref's event: the
// record name (before.json or after.json) of the event's manifest.
func (f *containFixture) sealedStates(t *testing.T, manifest string) map[string]contain.State {
	t.Helper()
	ctx := context.Background()
	stream, seq, _ := strings.Cut(manifest, "/")
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil {
		t.Fatalf("manifest ref %q: %v", manifest, err)
	}
	o, err := f.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(custody.ManifestKey(f.prefix, stream, n))})
	if err != nil {
		t.Fatalf("manifest %s: %v", manifest, err)
	}
	env, err := custody.ParseEnvelope(o.Body)
	o.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	st, err := env.Statement()
	if err != nil {
		t.Fatal(err)
	}
	if st.Predicate.Event != custody.EventContain {
		t.Fatalf("manifest %s is of a %s event", manifest, st.Predicate.Event)
	}
	out := map[string]contain.State{}
	for _, sub := range st.Subject {
		o, err := f.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(sub.Name)})
		if err != nil {
			t.Fatal(err)
		}
		var s contain.State
		err = json.NewDecoder(o.Body).Decode(&s)
		o.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[sub.Name[strings.LastIndex(sub.Name, "/")+1:]] = s
	}
	if st.Predicate.Details["phase"] == "" || st.Predicate.Details["principal"] == "" || st.Predicate.Details["case"] == "" {
		t.Fatalf("manifest %s details: %v", manifest, st.Predicate.Details)
	}
	return out
}

// TestContainKey: a user's long-term key deactivated through the binary
// (never deleted, the user's other key left Active), its states before
// and after sealed and verified; a dry run and a run without --yes write
// nothing; the re-run changes nothing and seals the state again; custody
// search reports the containment; hostile input is a usage error.
func TestContainKey(t *testing.T) {
	f := newContainFixture(t)
	user := "contain-user-" + f.suffix
	key, other := f.user(t, user)

	// Hostile or malformed input: usage errors, nothing read or written.
	for _, args := range [][]string{
		{"key", "--access-key", "not-a-key", "--case", "IR-16"},
		{"key", "--access-key", key + "; rm -rf /", "--case", "IR-16"},
		{"key", "--access-key", "AKIA", "--case", "IR-16"},
		{"key", "--access-key", strings.ToLower(key), "--case", "IR-16"},
		{"key", "--access-key", key},
		{"key", "--access-key", key, "--case", "IR\x1b16"},
		{"key", "--access-key", key, "--case", "IR-16", "--role", "arn:aws:iam::123456789012:role/app"},
		{"role", "--role", "arn:aws:sts::123456789012:assumed-role/app/session", "--case", "IR-16"},
		{"role", "--role", "arn:aws:iam::123456789012:user/app", "--case", "IR-16"},
		{"role", "--role", "arn:aws:iam::12345:role/app", "--case", "IR-16"},
		{"role", "--role", "arn:aws:iam::123456789012:role/a b", "--case", "IR-16"},
		{"role", "--role", "arn:aws-cn:iam::123456789012:role/app", "--case", "IR-16", "--dry-run"},
		{"role", "--role", "arn:aws:iam::999999999999:role/app", "--case", "IR-16", "--dry-run"},
		{"role", "--case", "IR-16"},
	} {
		if _, errOut, code := f.contain(t, args...); code != cli.ExitUsage || errOut == "" {
			t.Errorf("contain %q: exit %d, want %d\n%s", args, code, cli.ExitUsage, errOut)
		}
	}
	if f.keyStatus(t, user, key) != "Active" {
		t.Fatal("a usage error changed the key")
	}

	// A dry run and a run without --yes nor a terminal write nothing.
	versions, ledgerBefore := f.versions(t), f.ledgerState(t)
	res, errOut, code := f.contain(t, "key", "--access-key", key, "--case", "IR-16", "--dry-run")
	if code != 0 || !res.DryRun || !strings.Contains(res.Plan, "would") || res.Before == nil || res.Before.User.Name != user || res.Before.Contained {
		t.Fatalf("dry run: exit %d, %+v\n%s", code, res, errOut)
	}
	out, errOut, code := f.bin.run(t, "contain", "key", "--access-key", key, "--case", "IR-16")
	if code != cli.ExitUsage || !strings.Contains(errOut, "--yes") || out != "" {
		t.Fatalf("without --yes: exit %d\n%s%s", code, out, errOut)
	}
	if got := f.versions(t); !sameStrings(got, versions) || f.ledgerState(t) != ledgerBefore || f.keyStatus(t, user, key) != "Active" {
		t.Fatalf("a dry run or an unconfirmed run wrote: %d versions (was %d), key %s", len(got), len(versions), f.keyStatus(t, user, key))
	}

	// Contained: Inactive, still listed, the other key Active.
	res, errOut, code = f.contain(t, "key", "--access-key", key, "--case", "IR-16", "--yes")
	if code != 0 || !res.Changed || res.Completed || res.Action != contain.ActionDeactivateKey || !strings.HasSuffix(res.Principal, ":user/"+user) {
		t.Fatalf("contain key: exit %d, %+v\n%s", code, res, errOut)
	}
	if f.keyStatus(t, user, key) != "Inactive" || f.keyStatus(t, user, other) != "Active" {
		t.Fatalf("after containment: key %s, other key %s", f.keyStatus(t, user, key), f.keyStatus(t, user, other))
	}
	if out, errOut, code := f.bin.run(t, "verify", "--case", "IR-16"); code != 0 {
		t.Fatalf("verify --case IR-16: exit %d\n%s%s", code, out, errOut)
	}
	first := f.sealedStates(t, res.BeforeManifest)
	sealed := f.sealedStates(t, res.Manifest)
	b, a := sealed[contain.BeforeRecord], sealed[contain.AfterRecord]
	if len(first) != 1 || first[contain.BeforeRecord].Phase != contain.PhaseBefore || first[contain.BeforeRecord].Contained ||
		b.Phase != contain.PhaseBefore || b.Contained || len(b.User.Keys) != 2 || a.Phase != contain.PhaseAfter || !a.Contained || !a.Changed ||
		a.BeforeManifest != res.BeforeManifest || a.ChangedAt == nil || a.AccessKey != key || a.Case != "IR-16" {
		t.Fatalf("sealed states: before event %+v\nafter event: before %+v\nafter %+v", first, b, a)
	}
	for _, k := range a.User.Keys {
		if want := map[bool]string{true: "Inactive", false: "Active"}[k.ID == key]; k.Status != want {
			t.Fatalf("sealed after-state: key %s %s, want %s", k.ID, k.Status, want)
		}
	}

	// The re-run: nothing to change, the state sealed again.
	again, errOut, code := f.contain(t, "key", "--access-key", key, "--case", "IR-16", "--yes")
	if code != 0 || again.Changed || again.Completed || !again.Before.Contained || again.Manifest == res.Manifest || f.keyStatus(t, user, key) != "Inactive" {
		t.Fatalf("re-run: exit %d, %+v\n%s", code, again, errOut)
	}

	// custody search shows the containment of the key, and that it was
	// used once after it (CloudTrail delivers after the fact).
	used := res.After.ChangedAt.Truncate(time.Second).Add(time.Second) // CloudTrail's times are to the second
	time.Sleep(time.Until(used.Add(100 * time.Millisecond)))           // search's window ends now
	f.sealTrail(t, []map[string]any{
		trailRecordAt(key, res.Principal, "GetObject", 1, res.After.ChangedAt.Add(-time.Minute)),
		trailRecordAt(key, res.Principal, "PutObject", 2, used),
	})
	until := time.Now().UTC().Format(time.RFC3339Nano)
	out, errOut, code = f.bin.run(t, "search", "--access-key", key, "--since", "1h", "--until", until)
	if code != 0 || !strings.Contains(errOut, "contained at ") || !strings.Contains(errOut, "(manifest "+res.Manifest+"); 1 event(s) after it") ||
		!strings.Contains(errOut, "2 record(s) matched") {
		t.Fatalf("search --access-key after containment: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = f.bin.run(t, "--json", "search", "--access-key", key, "--since", "1h", "--until", until)
	doc := checkJSON(t, "search", out)
	if code != 0 || field(doc, "contained", "manifest") != res.Manifest || field(doc, "contained", "after") != float64(1) || field(doc, "contained", "case") != "IR-16" {
		t.Fatalf("search --json: exit %d\n%s", code, out)
	}
	if out, _, _ := f.bin.run(t, "--json", "search", "--access-key", other, "--since", "1h"); field(checkJSON(t, "search", out), "contained") != nil {
		t.Fatalf("search of a key never contained reports a containment:\n%s", out)
	}

	// A key of no user of the account.
	if _, errOut, code := f.contain(t, "key", "--access-key", "AKIA0000000000NOSUCH", "--case", "IR-16", "--dry-run"); code != cli.ExitUsage {
		t.Fatalf("unknown key: exit %d\n%s", code, errOut)
	}
}

// issueTime is the aws:TokenIssueTime of a revoke policy document.
func issueTime(t *testing.T, doc string) string {
	t.Helper()
	var p struct {
		Statement []struct{ Condition map[string]map[string]string }
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil || len(p.Statement) != 1 || p.Statement[0].Condition["DateLessThan"]["aws:TokenIssueTime"] == "" {
		t.Fatalf("not a revoke policy (%v): %s", err, doc)
	}
	return p.Statement[0].Condition["DateLessThan"]["aws:TokenIssueTime"]
}

// failingSealer seals through the real sealer but fails the after-state:
// as a run killed between the change and its seal.
type failingSealer struct{ contain.Sealer }

func (s failingSealer) Seal(ctx context.Context, r contain.SealRequest) (string, error) {
	if r.Phase == contain.PhaseAfter {
		return "", errors.New("killed before sealing the state after")
	}
	return s.Sealer.Seal(ctx, r)
}

// TestContainKilledBetweenChangeAndSeal: a containment whose run stops
// after changing IAM, before sealing the state after, is completed by the
// re-run (the binary): it seals the state after against the first run's
// state before, and the case verifies. For a key the re-run changes
// nothing. For a role it puts the policy again with its own, later time
// (sessions issued since the first run's time, an attacker's new one,
// are revoked too): the first run is completed with the state found (its
// time) and the re-run's change sealed after it, its time read back.
func TestContainKilledBetweenChangeAndSeal(t *testing.T) {
	f := newContainFixture(t)
	ctx := context.Background()
	user := "contain-killed-" + f.suffix
	key, _ := f.user(t, user)
	roleName := "contain-killed-role-" + f.suffix
	roleARN := f.role(t, roleName)
	cfg, err := cli.LoadConfig(cli.ConfigSource{File: f.cfg})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		o     containOptions
		args  []string
		check func() string
	}{
		{"key", containOptions{accessKey: key, caseID: "IR-K", yes: true}, []string{"key", "--access-key", key, "--case", "IR-K", "--yes"},
			func() string { return f.keyStatus(t, user, key) }},
		{"role", containOptions{role: roleARN, roleOnly: true, caseID: "IR-K", yes: true}, []string{"role", "--role", roleARN, "--case", "IR-K", "--yes"},
			func() string { return f.revokePolicy(t, roleName) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.wrapSealer = func(s contain.Sealer) contain.Sealer { return failingSealer{s} }
			d, _ := testDeps(func() (config.Config, error) { return cfg, nil }, nil)
			err := runContain(ctx, o, d)
			if err == nil || !strings.Contains(err.Error(), "killed before sealing") || !strings.Contains(err.Error(), "run the same command again") {
				t.Fatalf("the killed run: %v", err)
			}
			changed := tc.check()
			if changed == "" || changed == "Active" {
				t.Fatalf("the killed run did not change IAM: %q", changed)
			}
			res, errOut, code := f.contain(t, tc.args...)
			if code != 0 || !res.Completed || !res.After.Contained || res.After.BeforeManifest != res.BeforeManifest {
				t.Fatalf("the re-run: exit %d, %+v\n%s", code, res, errOut)
			}
			sealed := f.sealedStates(t, res.Manifest)
			if tc.name == "key" {
				if res.Changed || res.Before.Contained || res.CompletedManifest != "" || tc.check() != changed {
					t.Fatalf("the re-run of a key: %+v; key %q, was %q", res, tc.check(), changed)
				}
				if sealed[contain.BeforeRecord].Contained || !sealed[contain.AfterRecord].Contained || sealed[contain.AfterRecord].Changed {
					t.Fatalf("completed event's states: %+v", sealed)
				}
			} else {
				// T1: the killed run's time; T2: the re-run's, in force.
				t1, t2 := issueTime(t, changed), issueTime(t, tc.check())
				if !res.Changed || t2 <= t1 || res.After.Role.RevokedBefore != t2 || res.After.ChangedAt == nil || res.After.ChangedAt.Format(contain.RevokeTimeFormat) != t2 ||
					!res.Before.Contained || res.Before.Role.RevokedBefore != t1 || res.CompletedManifest == "" || res.BeforeManifest != res.CompletedManifest {
					t.Fatalf("the re-run must put the policy again with its own time (T1 %s, now %s): %+v", t1, t2, res)
				}
				b, a := sealed[contain.BeforeRecord], sealed[contain.AfterRecord]
				if b.Role.RevokedBefore != t1 || a.Role.RevokedBefore != t2 || !a.Changed || a.BeforeManifest != res.CompletedManifest {
					t.Fatalf("the re-run's event: before %+v\nafter %+v", b, a)
				}
				// The completion of the killed run: its state before (no
				// policy), sealed by it, and the state the re-run found (T1).
				m := regexp.MustCompile(`state before is sealed in manifest ([^;) ]+)`).FindStringSubmatch(err.Error())
				done := f.sealedStates(t, res.CompletedManifest)
				db, da := done[contain.BeforeRecord], done[contain.AfterRecord]
				if m == nil || db.Contained || db.Phase != contain.PhaseBefore || !da.Contained || da.Role.RevokedBefore != t1 || da.BeforeManifest != m[1] || da.Phase != contain.PhaseAfter {
					t.Fatalf("the completion (the killed run said %q): before %+v\nafter %+v", err, db, da)
				}
			}
			if out, errOut, code := f.bin.run(t, "verify", "--case", "IR-K"); code != 0 {
				t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}

// TestContainTemporaryKey: an ASIA key's role is found in a sealed
// CloudTrail log and its sessions revoked with AWSRevokeOlderSessions at
// the time of the change (moto stores the policy; whether it enforces
// aws:TokenIssueTime is not what is checked: the document written is); a
// policy already there is sealed and replaced; a key no sealed record
// names, or a role that does not exist, is a clear usage error.
func TestContainTemporaryKey(t *testing.T) {
	f := newContainFixture(t)
	roleName := "contain-app-" + f.suffix
	roleARN := f.role(t, roleName)
	session := "ASIA" + strings.ToUpper(fmt.Sprintf("%016x", time.Now().UnixNano()))
	ghost := "ASIAGHOST" + strings.ToUpper(fmt.Sprintf("%011x", time.Now().UnixNano()%1e12))
	f.sealTrail(t, []map[string]any{
		trailRecord(session, "arn:aws:sts::123456789012:assumed-role/"+roleName+"/i-0abc", "GetObject", 1),
		trailRecord(session, "arn:aws:sts::123456789012:assumed-role/"+roleName+"/i-0abc", "DeleteObject", 2),
		trailRecord(ghost, "arn:aws:sts::123456789012:assumed-role/no-such-role-"+f.suffix+"/x", "GetObject", 3),
	})
	old := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := f.iam.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: aws.String(roleName), PolicyName: aws.String(contain.RevokePolicyName),
		PolicyDocument: aws.String(contain.RevokePolicy(old))}); err != nil {
		t.Fatal(err)
	}

	versions := f.versions(t)
	res, errOut, code := f.contain(t, "key", "--access-key", session, "--case", "IR-T", "--dry-run")
	if code != 0 || res.Action != contain.ActionRevokeSessions || res.Principal != roleARN || !strings.Contains(res.Before.RoleFrom, "CloudTrail record") {
		t.Fatalf("dry run: exit %d, %+v\n%s", code, res, errOut)
	}
	if !sameStrings(f.versions(t), versions) || !strings.Contains(f.revokePolicy(t, roleName), "2026-01-02T03:04:05.000Z") {
		t.Fatal("the dry run wrote")
	}

	start := time.Now().UTC()
	res, errOut, code = f.contain(t, "key", "--access-key", session, "--case", "IR-T", "--yes")
	end := time.Now().UTC()
	if code != 0 || !res.Changed || res.Principal != roleARN || res.Before.Role.RevokedBefore != "2026-01-02T03:04:05.000Z" || res.Before.Role.RevokePolicy == nil {
		t.Fatalf("contain key (ASIA): exit %d, %+v\n%s", code, res, errOut)
	}
	var doc struct {
		Version   string
		Statement []struct {
			Effect           string
			Action, Resource []string
			Condition        map[string]map[string]string
		}
	}
	raw := f.revokePolicy(t, roleName)
	if err := json.Unmarshal([]byte(raw), &doc); err != nil || len(doc.Statement) != 1 {
		t.Fatalf("the policy written: %v\n%s", err, raw)
	}
	st := doc.Statement[0]
	at, err := time.Parse(time.RFC3339Nano, st.Condition["DateLessThan"]["aws:TokenIssueTime"])
	if err != nil || st.Effect != "Deny" || fmt.Sprint(st.Action) != "[*]" || fmt.Sprint(st.Resource) != "[*]" || doc.Version != "2012-10-17" ||
		at.Before(start.Truncate(time.Millisecond)) || at.After(end) || res.After.Role.RevokedBefore != at.Format(contain.RevokeTimeFormat) {
		t.Fatalf("the policy written (between %s and %s): %s", start, end, raw)
	}
	sealed := f.sealedStates(t, res.Manifest)
	if !strings.Contains(string(sealed[contain.BeforeRecord].Role.RevokePolicy), "2026-01-02T03:04:05.000Z") || sealed[contain.AfterRecord].AccessKey != session {
		t.Fatalf("sealed states: %+v", sealed)
	}
	if out, errOut, code := f.bin.run(t, "verify", "--case", "IR-T"); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}

	// No sealed record names the key: pass --role. With it, the role is
	// revoked; a role that does not exist is named.
	unknown := "ASIAUNKNOWN" + strings.ToUpper(fmt.Sprintf("%09x", time.Now().UnixNano()%1e10))
	if _, errOut, code := f.contain(t, "key", "--access-key", unknown, "--case", "IR-T", "--yes"); code != cli.ExitUsage || !strings.Contains(errOut, "--role ARN") {
		t.Fatalf("a key no record names: exit %d\n%s", code, errOut)
	}
	if res, errOut, code := f.contain(t, "key", "--access-key", unknown, "--role", roleARN, "--case", "IR-T", "--yes"); code != 0 || res.Before.RoleFrom != "--role" || !res.Changed {
		t.Fatalf("a key with --role: exit %d, %+v\n%s", code, res, errOut)
	}
	if _, errOut, code := f.contain(t, "key", "--access-key", ghost, "--case", "IR-T", "--yes"); code != cli.ExitUsage || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("a role that does not exist: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := f.contain(t, "role", "--role", "arn:aws:iam::123456789012:role/nope-"+f.suffix, "--case", "IR-T", "--yes"); code != cli.ExitUsage || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("contain role of a role that does not exist: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := f.contain(t, "role", "--role", "arn:aws:iam::123456789012:role/some/path/"+roleName, "--case", "IR-T", "--yes"); code != cli.ExitUsage || !strings.Contains(errOut, "another path") {
		t.Fatalf("contain role with the wrong path: exit %d\n%s", code, errOut)
	}
}

// trailRecord is a CloudTrail record of a call made with key by
// principal (a role session's ARN, or a user's) ten minutes ago.
func trailRecord(key, principal, event string, n int) map[string]any {
	return trailRecordAt(key, principal, event, n, time.Now().Add(-10*time.Minute))
}

func trailRecordAt(key, principal, event string, n int, at time.Time) map[string]any {
	ident := map[string]any{"type": "IAMUser", "principalId": "AIDAUSER", "arn": principal, "accountId": "123456789012", "accessKeyId": key}
	if i := strings.Index(principal, "assumed-role/"); i >= 0 {
		role := principal[i+len("assumed-role/"):]
		role = role[:strings.Index(role, "/")]
		ident["type"], ident["principalId"] = "AssumedRole", "AROAAPP:x"
		ident["sessionContext"] = map[string]any{"sessionIssuer": map[string]any{"type": "Role", "arn": "arn:aws:iam::123456789012:role/" + role, "userName": role}}
	}
	return map[string]any{
		"eventVersion": "1.09", "eventTime": at.UTC().Format(time.RFC3339), "eventSource": "s3.amazonaws.com", "eventName": event,
		"awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.7", "requestID": fmt.Sprintf("REQ%04d", n), "eventID": fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		"userIdentity": ident, "requestParameters": map[string]any{"bucketName": "customer-data", "key": "k"}, "recipientAccountId": "123456789012",
		"eventCategory": "Data", "managementEvent": false,
	}
}

// sealTrail seals a CloudTrail log file of records into the store, as
// the CloudTrail collector seals one.
func (f *containFixture) sealTrail(t *testing.T, records []map[string]any) {
	t.Helper()
	ctx := context.Background()
	raw, _ := json.Marshal(map[string]any{"Records": records})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	cfg, err := cli.LoadConfig(cli.ConfigSource{File: f.cfg})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := cli.OpenEvidence(ctx, cfg, time.Now, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	run, err := ev.Chain.StartRun(ctx, "cloudtrail")
	if err != nil {
		t.Fatal(err)
	}
	delivered := time.Now().UTC()
	src := fmt.Sprintf("AWSLogs/123456789012/CloudTrail/us-east-1/%s/123456789012_CloudTrail_us-east-1_%s_0000000000000001.json.gz", delivered.Format("2006/01/02"), delivered.Format("20060102T1504Z"))
	if _, err := run.Put(ctx, custody.ArtifactPath(cfg.Store.Prefix, "123456789012", "us-east-1", "cloudtrail", time.Now(), run.ID, src), &gz,
		custody.PutOptions{Kind: "cloudtrail-log", Account: "123456789012", Region: "us-east-1", Source: "s3://trail/" + src}); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Seal(ctx, custody.SealRequest{Event: custody.EventCollect}, nil); err != nil {
		t.Fatal(err)
	}
}
