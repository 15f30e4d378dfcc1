package contain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// lagIAM is an IAM of one user with one key and one role, eventually
// consistent as IAM is: after a write, the next lag reads of what it
// wrote (ListAccessKeys, GetRolePolicy) still show the value before it.
type lagIAM struct {
	mu  sync.Mutex
	lag int
	// The value reads show, and the one the last write made (nil: none
	// pending).
	status, nextStatus iamtypes.StatusType
	policy, nextPolicy *string
	stale              int // reads left that show the value before the write
	// afterPut, when set, runs after each PutRolePolicy: another writer.
	afterPut func(*lagIAM)
	puts     []string // the documents put
	updates  int
}

const (
	lagUser = "victim"
	lagKey  = "AKIAVICTIM0000000001"
	lagRole = "app"
	lagARN  = "arn:aws:iam::123456789012:role/app"
)

var _ IAM = (*lagIAM)(nil)

// read returns whether a read shows the value before the last write,
// counting it.
func (f *lagIAM) readStale() bool {
	if f.stale > 0 {
		f.stale--
		return true
	}
	if f.nextStatus != "" {
		f.status, f.nextStatus = f.nextStatus, ""
	}
	if f.nextPolicy != nil {
		f.policy, f.nextPolicy = f.nextPolicy, nil
	}
	return false
}

func (f *lagIAM) GetAccessKeyLastUsed(context.Context, *iam.GetAccessKeyLastUsedInput, ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error) {
	return &iam.GetAccessKeyLastUsedOutput{UserName: aws.String(lagUser)}, nil
}

func (f *lagIAM) GetUser(context.Context, *iam.GetUserInput, ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	return &iam.GetUserOutput{User: &iamtypes.User{UserName: aws.String(lagUser), Arn: aws.String("arn:aws:iam::123456789012:user/" + lagUser)}}, nil
}

func (f *lagIAM) ListAccessKeys(context.Context, *iam.ListAccessKeysInput, ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readStale()
	return &iam.ListAccessKeysOutput{AccessKeyMetadata: []iamtypes.AccessKeyMetadata{{AccessKeyId: aws.String(lagKey), Status: f.status, UserName: aws.String(lagUser)}}}, nil
}

func (f *lagIAM) UpdateAccessKey(_ context.Context, in *iam.UpdateAccessKeyInput, _ ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates++
	f.nextStatus, f.stale = in.Status, f.lag
	return &iam.UpdateAccessKeyOutput{}, nil
}

func (f *lagIAM) GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	return &iam.GetRoleOutput{Role: &iamtypes.Role{RoleName: aws.String(lagRole), Arn: aws.String(lagARN), RoleId: aws.String("AROAAPP")}}, nil
}

func (f *lagIAM) GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readStale()
	if f.policy == nil {
		return nil, &iamtypes.NoSuchEntityException{Message: aws.String("The role policy with name AWSRevokeOlderSessions cannot be found.")}
	}
	// IAM sends the document URL-encoded.
	return &iam.GetRolePolicyOutput{PolicyDocument: aws.String(url.QueryEscape(*f.policy))}, nil
}

func (f *lagIAM) PutRolePolicy(_ context.Context, in *iam.PutRolePolicyInput, _ ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error) {
	f.mu.Lock()
	f.puts = append(f.puts, aws.ToString(in.PolicyDocument))
	f.nextPolicy, f.stale = in.PolicyDocument, f.lag
	after := f.afterPut
	f.mu.Unlock()
	if after != nil {
		after(f)
	}
	return &iam.PutRolePolicyOutput{}, nil
}

// memSealer keeps the sealed events in memory; History reads them back
// as ChainSealer does. failAfter fails every after-state, as a run killed
// before sealing it.
type memSealer struct {
	events    []SealRequest
	failAfter bool
}

func (m *memSealer) Seal(_ context.Context, r SealRequest) (string, error) {
	if m.failAfter && r.Phase == PhaseAfter {
		return "", errors.New("killed before sealing the state after")
	}
	m.events = append(m.events, r)
	return fmt.Sprintf("s/%d", len(m.events)), nil
}

func (m *memSealer) History(_ context.Context, source string) ([]Sealed, error) {
	var out []Sealed
	for i, e := range m.events {
		if e.Source != source {
			continue
		}
		for name, raw := range e.Records {
			s := Sealed{Manifest: fmt.Sprintf("s/%d", i+1), Name: name, Raw: raw}
			if err := json.Unmarshal(raw, &s.State); err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].State.ReadAt.Before(out[j].State.ReadAt) })
	return out, nil
}

// state is the record name of the n-th event sealed (1-based).
func (m *memSealer) state(t *testing.T, n int, name string) State {
	t.Helper()
	var st State
	if err := json.Unmarshal(m.events[n-1].Records[name], &st); err != nil {
		t.Fatalf("event %d, %s: %v", n, name, err)
	}
	return st
}

// clock is a test clock that moves on by a millisecond each time it is
// read, so that every change has a time of its own.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sleeps records the waits and waits for nothing.
type sleeps []time.Duration

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	*s = append(*s, d)
	return nil
}

func (s sleeps) total() time.Duration {
	var n time.Duration
	for _, d := range s {
		n += d
	}
	return n
}

func newLagKeys(f *lagIAM, c *clock, s *sleeps) *Keys {
	return &Keys{IAM: f, Now: c.now, Sleep: s.sleep}
}

// run reads the target and contains it, as the command does.
func runContain(t *testing.T, k *Keys, s Sealer, tg Target) (*Outcome, error) {
	t.Helper()
	before, err := k.Read(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	return Contain(context.Background(), k, s, tg, before)
}

var (
	keyTarget  = Target{AccessKey: lagKey, Case: "IR-1"}
	roleTarget = Target{Role: &RoleARN{ARN: lagARN, Partition: "aws", Account: "123456789012", Path: "/", Name: lagRole}, RoleFrom: "--role", Case: "IR-1"}
)

// TestReadBackWaitsForIAM: IAM is eventually consistent. A read-back
// that still shows the state before the change is read again (the waits
// injected, bounded); the change seen on a later read is sealed. One
// that never shows it says so (run again), sealing no after-state; only
// a read-back showing another change is another writer.
func TestReadBackWaitsForIAM(t *testing.T) {
	old := RevokePolicy(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	for _, tc := range []struct {
		name   string
		target Target
		lag    int
		policy *string // the role's policy before
	}{
		{"key, one stale read", keyTarget, 1, nil},
		{"key, two stale reads", keyTarget, 2, nil},
		{"role without a policy, two stale reads", roleTarget, 2, nil},
		{"role with an older policy, one stale read", roleTarget, 1, &old},
		{"role with an older policy, four stale reads", roleTarget, 4, &old},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &lagIAM{lag: tc.lag, status: iamtypes.StatusTypeActive, policy: tc.policy}
			c, s, sealed := &clock{t: time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)}, &sleeps{}, &memSealer{}
			out, err := runContain(t, newLagKeys(f, c, s), sealed, tc.target)
			if err != nil {
				t.Fatalf("a read-back %d read(s) behind the change: %v", tc.lag, err)
			}
			if len(*s) != tc.lag || s.total() > 10*time.Second {
				t.Errorf("waits %v, want %d within 10s", *s, tc.lag)
			}
			after := sealed.state(t, 2, AfterRecord)
			if !out.Changed || !after.Contained || !after.Changed || len(sealed.events) != 2 {
				t.Fatalf("outcome %+v, sealed after-state %+v, %d events", out, after, len(sealed.events))
			}
			if tc.target.Role != nil && (len(f.puts) != 1 || after.Role.RevokedBefore != out.After.ChangedAt.Format(RevokeTimeFormat)) {
				t.Fatalf("the sealed policy time %q, changed at %s, puts %q", after.Role.RevokedBefore, out.After.ChangedAt, f.puts)
			}
		})
	}

	for name, tg := range map[string]Target{"key": keyTarget, "role": roleTarget} {
		t.Run("never shown, "+name, func(t *testing.T) {
			f := &lagIAM{lag: 1000, status: iamtypes.StatusTypeActive, policy: &old}
			c, s, sealed := &clock{t: time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)}, &sleeps{}, &memSealer{}
			k := newLagKeys(f, c, s)
			k.ReadBackWaits = nil // production's waits, recorded, not slept
			_, err := runContain(t, k, sealed, tg)
			if !errors.Is(err, ErrNotVisible) || !strings.Contains(err.Error(), "IAM does not show the change yet (eventual consistency): run the same command again") ||
				strings.Contains(err.Error(), "another writer") || !strings.Contains(err.Error(), "manifest s/1") {
				t.Fatalf("a change IAM never shows: %v", err)
			}
			if len(*s) < 2 || len(*s) > 6 || s.total() < 5*time.Second || s.total() > 15*time.Second || len(sealed.events) != 1 {
				t.Fatalf("waits %v (total %s), %d events: want a few tries over about 10s, the before-state alone sealed", *s, s.total(), len(sealed.events))
			}
			// IAM catches up: the same command completes the containment.
			f.mu.Lock()
			f.stale, f.lag = 0, 0
			f.mu.Unlock()
			c.advance(time.Minute)
			out, err := runContain(t, k, sealed, tg)
			if err != nil || !out.Completed || !out.After.Contained {
				t.Fatalf("the re-run once IAM shows the change: %+v, %v", out, err)
			}
			if Pending(mustHistory(t, sealed, tg), "IR-1") != nil {
				t.Fatal("the first run's before-state is still pending after the re-run")
			}
		})
	}

	t.Run("another writer", func(t *testing.T) {
		theirs := RevokePolicy(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
		f := &lagIAM{policy: &old, afterPut: func(f *lagIAM) {
			f.mu.Lock()
			f.nextPolicy = &theirs
			f.mu.Unlock()
		}}
		c, s, sealed := &clock{t: time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)}, &sleeps{}, &memSealer{}
		_, err := runContain(t, newLagKeys(f, c, s), sealed, roleTarget)
		if err == nil || !strings.Contains(err.Error(), "another writer replaced it") || !strings.Contains(err.Error(), "2026-11-30T00:00:00.000Z") || errors.Is(err, ErrNotVisible) || len(*s) != 0 {
			t.Fatalf("a read-back showing another writer's policy: %v (waits %v)", err, *s)
		}
	})
}

func mustHistory(t *testing.T, s *memSealer, tg Target) []Sealed {
	t.Helper()
	src := "iam:access-key/" + tg.AccessKey
	if tg.AccessKey == "" {
		src = "iam:role/" + lagARN
	}
	h, err := s.History(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestRerunRevokesAgain: a run killed after putting the revoke policy
// (time T1), before sealing; the attacker assumes the role again after
// T1. The re-run completes the first run (its before-state and the state
// found, T1, sealed as one event) and puts the policy again with its own
// time T2, sealing T2 as the state after. A policy whose time is later
// than now is kept: a revocation never moves back.
func TestRerunRevokesAgain(t *testing.T) {
	f := &lagIAM{}
	c, s := &clock{t: time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)}, &sleeps{}
	k := newLagKeys(f, c, s)
	sealed := &memSealer{failAfter: true}
	if _, err := runContain(t, k, sealed, roleTarget); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the killed run: %v", err)
	}
	t1 := tokenIssueTime(decodePolicy(f.puts[0]))
	c.advance(10 * time.Minute) // the attacker's new session is issued in between
	sealed.failAfter = false
	out, err := runContain(t, k, sealed, roleTarget)
	if err != nil {
		t.Fatal(err)
	}
	if out.After == nil || out.After.ChangedAt == nil {
		t.Fatalf("the re-run did not put the policy again (the first run's time %s kept): %+v", t1, out)
	}
	t2 := out.After.ChangedAt.Format(RevokeTimeFormat)
	if len(f.puts) != 2 || tokenIssueTime(decodePolicy(*f.policy)) != t2 || t2 <= t1 {
		t.Fatalf("the re-run must put the policy again with its own time: puts %q, in force %s, T1 %s", f.puts, *f.policy, t1)
	}
	if !out.Completed || !out.Changed || out.CompletedManifest != "s/2" || out.BeforeManifest != "s/2" || out.Manifest != "s/3" || len(sealed.events) != 3 {
		t.Fatalf("outcome %+v, %d events: want the first run completed in s/2, the new time sealed in s/3", out, len(sealed.events))
	}
	// s/2 completes the first run: its before-state (no policy) and what
	// the re-run found (T1).
	firstBefore, found := sealed.state(t, 2, BeforeRecord), sealed.state(t, 2, AfterRecord)
	if firstBefore.Contained || string(sealed.events[1].Records[BeforeRecord]) != string(sealed.events[0].Records[BeforeRecord]) ||
		!found.Contained || found.Role.RevokedBefore != t1 || found.BeforeManifest != "s/1" || found.Phase != PhaseAfter {
		t.Fatalf("the completion: before %+v, after %+v", firstBefore, found)
	}
	// s/3: the re-run's change, from T1 to T2, read back.
	b, a := sealed.state(t, 3, BeforeRecord), sealed.state(t, 3, AfterRecord)
	if b.Role.RevokedBefore != t1 || b.Phase != PhaseBefore || a.Role.RevokedBefore != t2 || !a.Changed || a.BeforeManifest != "s/2" {
		t.Fatalf("the re-run's event: before %+v, after %+v", b, a)
	}
	if p := Pending(mustHistory(t, sealed, roleTarget), "IR-1"); p != nil {
		t.Fatalf("still pending: %+v", p)
	}
	if first := First(mustHistory(t, sealed, roleTarget)); first == nil || first.Manifest != "s/2" {
		t.Fatalf("First = %+v, want the completion", first)
	}

	// Someone revoked up to a time later than now (a clock ahead, or a
	// revocation set forward): kept, not moved back; its state sealed.
	later := RevokePolicy(c.now().Add(time.Hour))
	f.policy = &later
	out, err = runContain(t, k, sealed, roleTarget)
	if err != nil || out.Changed || out.Completed || len(f.puts) != 2 || out.After.Role.RevokedBefore != tokenIssueTime(decodePolicy(later)) || len(sealed.events) != 5 {
		t.Fatalf("a later revocation in place: %+v, %v, puts %d, events %d", out, err, len(f.puts), len(sealed.events))
	}
	if w := Would(out.Before, c.now()); !strings.Contains(w, "kept") {
		t.Errorf("dry run of a later revocation: %s", w)
	}

	// A policy of that name that only looks like a later revocation (the
	// attacker's role wrote it: an Allow, or a deny of less, or another
	// condition beside the time) revokes nothing: it is replaced, never
	// kept, and the role is not reported contained before the change.
	far := c.now().Add(24 * time.Hour).UTC().Format(RevokeTimeFormat)
	for name, doc := range map[string]string{
		"an Allow":           `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"` + far + `"}}}]}`,
		"a deny of one call": `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"` + far + `"}}}]}`,
		"another condition":  `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"` + far + `"},"StringEquals":{"aws:SourceIp":"192.0.2.1"}}}]}`,
		"a key twice":        `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"` + far + `"}}}]}`,
		"a second statement": `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"` + far + `"}}},{"Effect":"Allow","Action":"*","Resource":"*"}]}`,
	} {
		f.policy, f.puts = &doc, nil
		before, err := k.Read(context.Background(), roleTarget)
		if err != nil || before.Contained || before.Role.RevokedBefore != "" {
			t.Fatalf("%s: read as %+v, %v; want not contained", name, before, err)
		}
		if w := Would(before, c.now()); strings.Contains(w, "kept") || !strings.Contains(w, "revokes nothing") {
			t.Errorf("%s: dry run says %s", name, w)
		}
		out, err = runContain(t, k, sealed, roleTarget)
		if err != nil || !out.Changed || len(f.puts) != 1 || !out.After.Contained || tokenIssueTime(decodePolicy(f.puts[0])) == far {
			t.Fatalf("%s: %+v, %v, puts %v; want the policy replaced by a revocation at now", name, out, err, f.puts)
		}
	}
	// IAM's console writes the statement without a list, and its time
	// perhaps without milliseconds: still a revocation.
	console := `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":"` + c.now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}}}}`
	f.policy = &console
	if st, err := k.Read(context.Background(), roleTarget); err != nil || !st.Contained || needsChange(st, c.now()) {
		t.Fatalf("the console's revocation: %+v, %v; want contained and kept", st, err)
	}
}
