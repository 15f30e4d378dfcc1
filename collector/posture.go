package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/ledger"
)

// postureAPI is every read the posture snapshot makes; none writes.
type postureAPI interface {
	GetBucketPolicy(context.Context, *s3.GetBucketPolicyInput, ...func(*s3.Options)) (*s3.GetBucketPolicyOutput, error)
	GetBucketPolicyStatus(context.Context, *s3.GetBucketPolicyStatusInput, ...func(*s3.Options)) (*s3.GetBucketPolicyStatusOutput, error)
	GetBucketAcl(context.Context, *s3.GetBucketAclInput, ...func(*s3.Options)) (*s3.GetBucketAclOutput, error)
	GetPublicAccessBlock(context.Context, *s3.GetPublicAccessBlockInput, ...func(*s3.Options)) (*s3.GetPublicAccessBlockOutput, error)
	GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	GetObjectLockConfiguration(context.Context, *s3.GetObjectLockConfigurationInput, ...func(*s3.Options)) (*s3.GetObjectLockConfigurationOutput, error)
	GetBucketReplication(context.Context, *s3.GetBucketReplicationInput, ...func(*s3.Options)) (*s3.GetBucketReplicationOutput, error)
	GetBucketEncryption(context.Context, *s3.GetBucketEncryptionInput, ...func(*s3.Options)) (*s3.GetBucketEncryptionOutput, error)
	GetBucketOwnershipControls(context.Context, *s3.GetBucketOwnershipControlsInput, ...func(*s3.Options)) (*s3.GetBucketOwnershipControlsOutput, error)
	GetBucketLogging(context.Context, *s3.GetBucketLoggingInput, ...func(*s3.Options)) (*s3.GetBucketLoggingOutput, error)
	GetBucketLifecycleConfiguration(context.Context, *s3.GetBucketLifecycleConfigurationInput, ...func(*s3.Options)) (*s3.GetBucketLifecycleConfigurationOutput, error)
	GetBucketTagging(context.Context, *s3.GetBucketTaggingInput, ...func(*s3.Options)) (*s3.GetBucketTaggingOutput, error)
	GetBucketLocation(context.Context, *s3.GetBucketLocationInput, ...func(*s3.Options)) (*s3.GetBucketLocationOutput, error)
}

var _ postureAPI = (*s3.Client)(nil)

// accountAPI reads the account-wide public access block.
type accountAPI interface {
	GetPublicAccessBlock(context.Context, *s3control.GetPublicAccessBlockInput, ...func(*s3control.Options)) (*s3control.GetPublicAccessBlockOutput, error)
}

var _ accountAPI = (*s3control.Client)(nil)

// Setting states in a snapshot.
const (
	StatePresent     = "present"     // configured; Value holds it
	StateAbsent      = "absent"      // S3 says it is not configured
	StateDenied      = "denied"      // AccessDenied: the collector role lacks the permission
	StateUnsupported = "unsupported" // the S3 server does not implement the API
	StateError       = "error"       // anything else; Error says what
)

// Setting is one security setting as S3 answered for it.
type Setting struct {
	State string          `json:"state"`
	Value json.RawMessage `json:"value,omitempty"`
	Error string          `json:"error,omitempty"`
	// Operation and Permission, of a denied setting, are the call that
	// was refused and the IAM permission it lacked.
	Operation  string `json:"operation,omitempty"`
	Permission string `json:"permission,omitempty"`
}

// Snapshot is a bucket's security settings at one time.
type Snapshot struct {
	Bucket   string             `json:"bucket"`
	Account  string             `json:"account,omitempty"`
	Region   string             `json:"region,omitempty"`
	TakenAt  time.Time          `json:"takenAt"`
	Settings map[string]Setting `json:"settings"`
}

// Change is one setting that differs from the previous snapshot.
type Change struct {
	Setting string  `json:"setting"`
	Before  Setting `json:"before"`
	After   Setting `json:"after"`
	Risk    string  `json:"risk,omitempty"` // why it matters, when it opens the bucket
}

// Posture snapshots a bucket's security settings into one artifact,
// compares them with the previous snapshot and records every change.
type Posture struct {
	API        postureAPI
	AccountAPI accountAPI // optional: the account's public access block
	Ledger     *ledger.Ledger
	Bucket     string
	Account    string
	Region     string
	Prefix     string
	Now        func() time.Time
}

func (p *Posture) Name() string { return "posture:" + p.Bucket }
func (p *Posture) Kind() string { return "posture" }

// Collect takes the snapshot, stores it, and reports changes.
func (p *Posture) Collect(ctx context.Context, run Run) (Outcome, error) {
	snap := p.Snapshot(ctx)
	out := Outcome{Account: p.Account, Region: p.Region, WindowStart: snap.TakenAt, WindowEnd: p.Now().UTC(), Sources: []string{"s3://" + p.Bucket},
		Description: "security settings of s3://" + p.Bucket}
	for _, name := range sortedKeys(snap.Settings) {
		s := snap.Settings[name]
		switch s.State {
		case StateDenied:
			out.Findings = append(out.Findings, p.deniedFinding(name, s))
		case StateError:
			out.Findings = append(out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.PostureUnreadable, Object: "s3://" + p.Bucket,
				Message: name + ": " + s.Error})
		}
	}
	body, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		return out, err
	}
	key := custody.ArtifactKey(p.Prefix, p.Account, p.Region, "posture", snap.TakenAt, run.RunID(), p.Bucket+".posture.json")
	if _, err := run.Put(ctx, key, bytes.NewReader(body), custody.PutOptions{Kind: "posture", Account: p.Account, Region: p.Region, Source: "s3://" + p.Bucket, ContentType: "application/json"}); err != nil {
		return out, err
	}
	var prev *Snapshot
	if raw, err := p.Ledger.Cursor(ctx, "posture", p.Bucket); err == nil {
		var s Snapshot
		if json.Unmarshal([]byte(raw), &s) == nil {
			prev = &s
		}
	}
	changes := Diff(prev, &snap)
	for _, c := range changes {
		msg := fmt.Sprintf("%s changed: %s -> %s", c.Setting, describe(c.Before), describe(c.After))
		// A change that opens the bucket (made public, versioning off) is
		// a failure: the agent logs it as an error and alerts count it.
		severity := custody.SeverityWarning
		if c.Risk != "" {
			msg += " (" + c.Risk + ")"
			severity = custody.SeverityFailure
		}
		out.Findings = append(out.Findings, custody.Finding{Severity: severity, Kind: finding.PostureChange, Object: "s3://" + p.Bucket, Message: msg})
	}
	out.AfterSeal(func(ctx context.Context) error {
		for _, c := range changes {
			before, _ := json.Marshal(c.Before)
			after, _ := json.Marshal(c.After)
			if err := p.Ledger.RecordPostureChange(ctx, ledger.PostureChange{Bucket: p.Bucket, At: snap.TakenAt, Setting: c.Setting,
				Before: string(before), After: string(after), Risk: c.Risk, RunID: run.RunID()}); err != nil {
				return err
			}
		}
		return p.Ledger.SetCursor(ctx, "posture", p.Bucket, string(body))
	})
	return out, nil
}

// Snapshot reads every setting; a setting that cannot be read is recorded
// as such, never a reason to stop.
func (p *Posture) Snapshot(ctx context.Context) Snapshot {
	b := aws.String(p.Bucket)
	snap := Snapshot{Bucket: p.Bucket, Account: p.Account, Region: p.Region, TakenAt: p.Now().UTC(), Settings: map[string]Setting{}}
	read := func(name string, absent []string, f func() (any, error)) {
		v, err := f()
		snap.Settings[name] = classify(v, err, absent)
	}
	read("policy", []string{"NoSuchBucketPolicy"}, func() (any, error) {
		o, err := p.API.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		return json.RawMessage(canonicalJSON(aws.ToString(o.Policy))), nil
	})
	read("policyStatus", []string{"NoSuchBucketPolicy"}, func() (any, error) {
		o, err := p.API.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		return o.PolicyStatus, nil
	})
	read("acl", nil, func() (any, error) {
		o, err := p.API.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		return struct{ Owner, Grants any }{o.Owner, o.Grants}, nil
	})
	read("publicAccessBlock", []string{"NoSuchPublicAccessBlockConfiguration"}, func() (any, error) {
		o, err := p.API.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		return o.PublicAccessBlockConfiguration, nil
	})
	read("versioning", nil, func() (any, error) {
		o, err := p.API.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		return struct{ Status, MFADelete string }{string(o.Status), string(o.MFADelete)}, nil
	})
	read("objectLock", []string{"ObjectLockConfigurationNotFoundError"}, func() (any, error) {
		o, err := p.API.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		return o.ObjectLockConfiguration, nil
	})
	read("replication", []string{"ReplicationConfigurationNotFoundError"}, func() (any, error) {
		o, err := p.API.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		return o.ReplicationConfiguration, nil
	})
	read("encryption", []string{"ServerSideEncryptionConfigurationNotFoundError"}, func() (any, error) {
		o, err := p.API.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		return o.ServerSideEncryptionConfiguration, nil
	})
	read("ownershipControls", []string{"OwnershipControlsNotFoundError"}, func() (any, error) {
		o, err := p.API.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		return o.OwnershipControls, nil
	})
	read("logging", nil, func() (any, error) {
		o, err := p.API.GetBucketLogging(ctx, &s3.GetBucketLoggingInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		if o.LoggingEnabled == nil {
			return nil, nil
		}
		return o.LoggingEnabled, nil
	})
	read("lifecycle", []string{"NoSuchLifecycleConfiguration"}, func() (any, error) {
		o, err := p.API.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		return o.Rules, nil
	})
	read("tags", []string{"NoSuchTagSet"}, func() (any, error) {
		o, err := p.API.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		return o.TagSet, nil
	})
	if p.AccountAPI != nil {
		read("accountPublicAccessBlock", []string{"NoSuchPublicAccessBlockConfiguration"}, func() (any, error) {
			o, err := p.AccountAPI.GetPublicAccessBlock(ctx, &s3control.GetPublicAccessBlockInput{AccountId: aws.String(p.Account)})
			if err != nil {
				return nil, err
			}
			return o.PublicAccessBlockConfiguration, nil
		})
	}
	read("location", nil, func() (any, error) {
		o, err := p.API.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: b})
		if err != nil {
			return nil, err
		}
		return string(o.LocationConstraint), nil
	})
	return snap
}

func classify(v any, err error, absent []string) Setting {
	if err == nil {
		if v == nil {
			return Setting{State: StateAbsent}
		}
		raw, merr := json.Marshal(v)
		if merr != nil {
			return Setting{State: StateError, Error: merr.Error()}
		}
		return Setting{State: StatePresent, Value: raw}
	}
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *smithyhttp.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	case contains(absent, code):
		return Setting{State: StateAbsent}
	case awsclient.AccessDenied(err):
		return Setting{State: StateDenied, Error: code, Operation: awsclient.Operation(err), Permission: awsclient.Permission(err)}
	case code == "NotImplemented" || code == "XNotImplemented" || status == http.StatusNotImplemented:
		return Setting{State: StateUnsupported}
	}
	return Setting{State: StateError, Error: err.Error()}
}

// deniedFinding reports a setting the collector role may not read, naming
// the call and the permission to grant: "policy: GetBucketPolicy on bucket
// b: access denied", remedy "grant s3:GetBucketPolicy to the collector
// role; see configs/iam/collector-role-policy.json".
func (p *Posture) deniedFinding(name string, s Setting) custody.Finding {
	msg := name + ": access denied"
	if s.Operation != "" {
		on := "bucket " + p.Bucket
		if name == "accountPublicAccessBlock" {
			on = "account " + p.Account
		}
		msg = fmt.Sprintf("%s: %s on %s: access denied", name, s.Operation, on)
	}
	remedy := awsclient.CollectorRole.Advice(s.Permission)
	if remedy == "" {
		remedy = "grant the collector role the read permission for " + name
	}
	return custody.Finding{Severity: custody.SeverityWarning, Kind: finding.PostureAccessDenied, Object: "s3://" + p.Bucket, Message: msg, Remedy: remedy}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s && s != "" {
			return true
		}
	}
	return false
}

// canonicalJSON re-encodes a JSON document with sorted keys, so that the
// same policy compares equal however it was formatted.
func canonicalJSON(s string) []byte {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		// Kept as a string, in the form reading it back gives.
		b, _ := json.Marshal(strings.ToValidUTF8(s, "\uFFFD"))
		return b
	}
	b, _ := json.Marshal(v)
	return b
}

// Diff lists the settings that changed from prev to cur (all present
// ones when there is no previous snapshot, none then: the first snapshot
// is the baseline).
func Diff(prev, cur *Snapshot) []Change {
	if prev == nil {
		return nil
	}
	var out []Change
	names := map[string]bool{}
	for n := range prev.Settings {
		names[n] = true
	}
	for n := range cur.Settings {
		names[n] = true
	}
	for _, n := range sortedKeys(names) {
		a, b := prev.Settings[n], cur.Settings[n]
		if a.State == b.State && bytes.Equal(canonical(a.Value), canonical(b.Value)) {
			continue
		}
		out = append(out, Change{Setting: n, Before: a, After: b, Risk: risk(n, a, b)})
	}
	return out
}

func canonical(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return nil
	}
	return canonicalJSON(string(raw))
}

// risk says why a change opens the bucket, when it does.
func risk(name string, before, after Setting) string {
	switch name {
	case "publicAccessBlock", "accountPublicAccessBlock":
		if before.State == StatePresent && (after.State != StatePresent || strings.Contains(string(after.Value), "false")) {
			return "public access block turned off"
		}
	case "policy":
		if after.State == StatePresent && grantsEveryone(after.Value) && !grantsEveryone(before.Value) {
			return `the policy now grants access to "Principal": "*"`
		}
	case "acl":
		if strings.Contains(string(after.Value), "AllUsers") && !strings.Contains(string(before.Value), "AllUsers") {
			return "the ACL now grants access to everyone (AllUsers)"
		}
	case "versioning":
		if strings.Contains(string(before.Value), `"Enabled"`) && !strings.Contains(string(after.Value), `"Enabled"`) {
			return "versioning is no longer enabled: deleted data may not be recoverable"
		}
	}
	return ""
}

// grantsEveryone reports whether a policy has an Allow statement whose
// principal is "*", or names "*" among its AWS principals ({"AWS": "*"},
// {"AWS": [..., "*"]}), however the JSON is formatted.
func grantsEveryone(raw json.RawMessage) bool {
	var doc struct {
		Statement json.RawMessage
	}
	if json.Unmarshal(raw, &doc) != nil {
		return false
	}
	var stmts []struct {
		Effect    string
		Principal json.RawMessage
	}
	if json.Unmarshal(doc.Statement, &stmts) != nil {
		var one struct {
			Effect    string
			Principal json.RawMessage
		}
		if json.Unmarshal(doc.Statement, &one) != nil {
			return false
		}
		stmts = append(stmts, one)
	}
	for _, s := range stmts {
		if s.Effect == "Allow" && isEveryone(s.Principal) {
			return true
		}
	}
	return false
}

// isEveryone reports whether a policy principal is "*" or has "*" as
// (one of) its AWS principals.
func isEveryone(principal json.RawMessage) bool {
	var s string
	if json.Unmarshal(principal, &s) == nil {
		return s == "*"
	}
	var byType map[string]json.RawMessage
	if json.Unmarshal(principal, &byType) != nil {
		return false
	}
	aws := byType["AWS"]
	if json.Unmarshal(aws, &s) == nil {
		return s == "*"
	}
	var list []any
	if json.Unmarshal(aws, &list) != nil {
		return false
	}
	for _, p := range list {
		if p == "*" {
			return true
		}
	}
	return false
}

func describe(s Setting) string {
	if s.State == "" {
		return "(none)"
	}
	if s.State == StatePresent {
		v := string(s.Value)
		if len(v) > 200 {
			v = v[:200] + "..."
		}
		return v
	}
	return s.State
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
