package contain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRoleARN(t *testing.T) {
	r, err := ParseRoleARN("arn:aws:iam::111122223333:role/service/app-1")
	if err != nil || r.Partition != "aws" || r.Account != "111122223333" || r.Path != "/service/" || r.Name != "app-1" {
		t.Fatalf("ParseRoleARN: %+v, %v", r, err)
	}
	if err := r.CheckTarget("arn:aws:sts::111122223333:assumed-role/custody-contain/s"); err != nil {
		t.Fatalf("same account: %v", err)
	}
	for _, caller := range []string{"arn:aws:sts::999999999999:assumed-role/custody-contain/s", "arn:aws-cn:sts::111122223333:assumed-role/c/s"} {
		if err := r.CheckTarget(caller); !errors.Is(err, ErrInput) {
			t.Errorf("CheckTarget(%s): %v", caller, err)
		}
	}
	for _, bad := range []string{"", "app", "arn:aws:iam::111122223333:user/app", "arn:aws:sts::111122223333:assumed-role/app/s",
		"arn:aws:iam::1111:role/app", "arn:aws:iam::111122223333:role/", "arn:aws:iam::111122223333:role/a b", "arn:evil:iam::111122223333:role/app",
		"arn:aws:iam::111122223333:role/app\n", "arn:aws:iam::111122223333:role/" + strings.Repeat("a", 65)} {
		if _, err := ParseRoleARN(bad); !errors.Is(err, ErrInput) {
			t.Errorf("ParseRoleARN(%q): %v", bad, err)
		}
	}
	if _, err := ParseRoleARN("arn:aws:sts::1:assumed-role/app/s"); err == nil || !strings.Contains(err.Error(), "role session") {
		t.Errorf("an assumed-role ARN: %v", err)
	}
}

func TestSessionRole(t *testing.T) {
	r, ok := sessionRole("arn:aws:sts::111122223333:assumed-role/app/i-0abc")
	if !ok || r.Name != "app" || r.Account != "111122223333" || r.ARN != "" {
		t.Fatalf("sessionRole: %+v %v", r, ok)
	}
	for _, p := range []string{"arn:aws:iam::111122223333:user/mallory", "arn:aws:sts::111122223333:federated-user/bob", "arn:aws:sts::111122223333:assumed-role/app", "", "x"} {
		if _, ok := sessionRole(p); ok {
			t.Errorf("sessionRole(%q) found a role", p)
		}
	}
}

func TestRevokePolicyRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 30, 1, 2, 3, 456789000, time.UTC)
	doc := decodePolicy("%7B%22a%22%3A1%7D")
	if string(doc) != `{"a":1}` {
		t.Fatalf("decodePolicy of a URL-encoded document: %s", doc)
	}
	if got := tokenIssueTime(decodePolicy(RevokePolicy(at))); got != "2026-11-30T01:02:03.456Z" {
		t.Fatalf("tokenIssueTime = %q", got)
	}
	if got := tokenIssueTime(decodePolicy("not json")); got != "" {
		t.Fatalf("tokenIssueTime of a non-policy = %q", got)
	}
}

// TestPendingAndFirst: an interrupted containment's before-state is
// pending until an after-state names it; First is the earliest after-state.
func TestPendingAndFirst(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	changed := t0.Add(time.Second)
	hist := []Sealed{
		{Manifest: "s/1", State: State{Phase: PhaseBefore, Case: "IR", ReadAt: t0}},
		{Manifest: "s/2", State: State{Phase: PhaseBefore, Case: "IR", ReadAt: t0}},
		{Manifest: "s/2", State: State{Phase: PhaseAfter, Case: "IR", ReadAt: t0.Add(2 * time.Second), Contained: true, Changed: true, ChangedAt: &changed, BeforeManifest: "s/1"}},
		{Manifest: "s/3", State: State{Phase: PhaseBefore, Case: "IR", ReadAt: t0.Add(time.Minute)}},
		{Manifest: "s/4", State: State{Phase: PhaseBefore, Case: "OTHER", ReadAt: t0.Add(2 * time.Minute)}},
	}
	if p := Pending(hist, "IR"); p == nil || p.Manifest != "s/3" {
		t.Fatalf("Pending = %+v, want s/3", p)
	}
	if p := Pending(hist[:3], "IR"); p != nil {
		t.Fatalf("Pending of a completed containment = %+v", p)
	}
	if c := First(hist); c == nil || c.Manifest != "s/2" || !c.At.Equal(changed) {
		t.Fatalf("First = %+v", c)
	}
	if First(hist[:2]) != nil {
		t.Fatal("First without an after-state")
	}
	// A role's policy completes the pending run only if it is that run's.
	p := &Sealed{State: State{Action: ActionRevokeSessions, ReadAt: t0}}
	now := &State{Action: ActionRevokeSessions, Contained: true, Role: &RoleInfo{RevokedBefore: changed.Format(RevokeTimeFormat)}}
	if !completes(now, p) {
		t.Fatal("a policy put after the pending before-state does not complete it")
	}
	now.Role.RevokedBefore = t0.Add(-time.Hour).Format(RevokeTimeFormat)
	if completes(now, p) {
		t.Fatal("an older policy completes the pending containment")
	}
	// Nor does another principal's state: runs naming different roles for
	// one access key share its source.
	now.Role.RevokedBefore = changed.Format(RevokeTimeFormat)
	p.State.Principal, now.Principal = "arn:aws:iam::123456789012:role/x", "arn:aws:iam::123456789012:role/y"
	if completes(now, p) {
		t.Fatal("role y's state completes the pending containment of role x")
	}
}

// FuzzParseRoleARN: no input crashes the parser, and what it accepts is
// an IAM role ARN whose parts put together give it back.
func FuzzParseRoleARN(f *testing.F) {
	for _, s := range []string{"arn:aws:iam::111122223333:role/app", "arn:aws:iam::111122223333:role/a/b/c", "arn:aws:sts::1:assumed-role/a/b", "", "arn:aws-cn:iam::000000000000:role/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRoleARN(s)
		if err != nil {
			if !errors.Is(err, ErrInput) {
				t.Fatalf("an error that is no input error: %v", err)
			}
			return
		}
		if back := "arn:" + r.Partition + ":iam::" + r.Account + ":role" + r.Path + r.Name; back != s {
			t.Fatalf("%q parsed as %+v, which gives %q", s, r, back)
		}
		_, _ = sessionRole(s)
		_ = CheckAccessKey(s)
	})
}

// FuzzSealedState: a sealed state or policy document of any bytes is
// decoded or refused, never a crash.
func FuzzSealedState(f *testing.F) {
	good, _ := json.Marshal(State{Phase: PhaseAfter, Action: ActionRevokeSessions, Role: &RoleInfo{RevokePolicy: json.RawMessage(RevokePolicy(time.Unix(0, 0)))}})
	f.Add(good)
	f.Add([]byte(RevokePolicy(time.Unix(1, 0))))
	f.Add([]byte(`{"Statement":[{"Condition":{"DateLessThan":{"aws:TokenIssueTime":5}}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = tokenIssueTime(decodePolicy(string(b)))
		var st State
		if json.Unmarshal(b, &st) != nil {
			return
		}
		hist := []Sealed{{Manifest: "s/1", Raw: b, State: st}}
		_ = Pending(hist, st.Case)
		_ = First(hist)
		if st.Role != nil {
			_ = completes(&st, &hist[0])
		}
	})
}
