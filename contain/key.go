package contain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/custody-ir/custody/internal/awsclient"
)

// The two containments of an access key.
const (
	// ActionDeactivateKey sets a long-term key (AKIA...) Inactive. The
	// key is never deleted: it is evidence.
	ActionDeactivateKey = "deactivate-key"
	// ActionRevokeSessions denies every session of a role issued before
	// now: what IAM's "Revoke active sessions" does for a temporary key
	// (ASIA...), which IAM cannot deactivate.
	ActionRevokeSessions = "revoke-sessions"
)

// RevokePolicyName is the inline role policy IAM's "Revoke active
// sessions" writes; custody writes the same one.
const RevokePolicyName = "AWSRevokeOlderSessions"

// Role is who makes containment's IAM calls, for error messages that
// name the permission to grant.
var Role = awsclient.Role{Name: "the containment role", Policy: "configs/iam/contain-policy.json"}

// IAM is every IAM call containment makes. The reads give the state
// sealed before and after; UpdateAccessKey and PutRolePolicy are the only
// writes. Nothing here deletes.
type IAM interface {
	GetAccessKeyLastUsed(context.Context, *iam.GetAccessKeyLastUsedInput, ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
	GetUser(context.Context, *iam.GetUserInput, ...func(*iam.Options)) (*iam.GetUserOutput, error)
	ListAccessKeys(context.Context, *iam.ListAccessKeysInput, ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	UpdateAccessKey(context.Context, *iam.UpdateAccessKeyInput, ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	PutRolePolicy(context.Context, *iam.PutRolePolicyInput, ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
}

var _ IAM = (*iam.Client)(nil)

// ErrInput is wrapped by every error about what the user gave (a
// malformed key id, a role ARN of another shape or account): the command
// reports it as a usage error.
var ErrInput = errors.New("invalid input")

func inputErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInput, fmt.Sprintf(format, args...))
}

var (
	accessKeyRE = regexp.MustCompile(`^(AKIA|ASIA)[A-Z0-9]{12,124}$`)
	// roleARNRE is an IAM role ARN: partition, account, path, name.
	roleARNRE = regexp.MustCompile(`^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role/((?:[\w+=,.@-]+/)*)([\w+=,.@-]{1,64})$`)
)

// CheckAccessKey checks that key is an access key id: AKIA... (long-term)
// or ASIA... (temporary).
func CheckAccessKey(key string) error {
	if !accessKeyRE.MatchString(key) {
		return inputErr("--access-key %q is not an access key id (AKIA... for a user's long-term key, ASIA... for temporary credentials: 16 or more capital letters and digits)", clip(key))
	}
	return nil
}

// Temporary reports whether key is a temporary (STS) access key id.
func Temporary(key string) bool { return strings.HasPrefix(key, "ASIA") }

// RoleARN is a parsed IAM role ARN.
type RoleARN struct {
	ARN, Partition, Account, Path, Name string
}

// ParseRoleARN parses an IAM role ARN, refusing any other shape: a role
// session (arn:aws:sts::...:assumed-role/...), a user, another service.
func ParseRoleARN(s string) (RoleARN, error) {
	m := roleARNRE.FindStringSubmatch(s)
	if m == nil {
		hint := ""
		if strings.Contains(s, ":assumed-role/") {
			hint = " (that is a role session; give the role: arn:aws:iam::ACCOUNT:role/NAME)"
		}
		return RoleARN{}, inputErr("--role %q is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)%s", clip(s), hint)
	}
	return RoleARN{ARN: s, Partition: m[1], Account: m[2], Path: "/" + m[3], Name: m[4]}, nil
}

// CheckTarget refuses a role of another account or partition than the
// credentials': IAM names roles by name within the caller's account, so
// such an ARN would contain a namesake of the role meant.
func (r RoleARN) CheckTarget(callerARN string) error {
	parts := strings.SplitN(callerARN, ":", 6)
	if len(parts) < 5 {
		return fmt.Errorf("the containment credentials' identity %q is not an ARN", callerARN)
	}
	if parts[1] != r.Partition || parts[4] != r.Account {
		return inputErr("--role %s is in partition %s, account %s, but the containment credentials are of partition %s, account %s: run with credentials of the role's account",
			r.ARN, r.Partition, r.Account, parts[1], parts[4])
	}
	return nil
}

func clip(s string) string {
	if len(s) > 140 {
		return s[:140] + "..."
	}
	return s
}

// State is what a containment reads of IAM, before and after its change:
// sealed as a record of the custody event.
type State struct {
	Phase     string    `json:"phase"` // before or after
	Action    string    `json:"action"`
	AccessKey string    `json:"accessKey,omitempty"`
	Principal string    `json:"principal"` // the user's or the role's ARN
	Case      string    `json:"case"`
	ReadAt    time.Time `json:"readAt"`
	User      *User     `json:"user,omitempty"`
	Role      *RoleInfo `json:"role,omitempty"`
	// Contained: the key is Inactive, or the role has an
	// AWSRevokeOlderSessions policy.
	Contained bool `json:"contained"`
	// RoleFrom says how the role was found (revoke-sessions only): "--role",
	// or the sealed CloudTrail record that names the key's session.
	RoleFrom string `json:"roleFrom,omitempty"`
	// After only: whether this containment changed IAM, when, and the
	// manifest that sealed the state before it ("stream/sequence").
	Changed        bool       `json:"changed"`
	ChangedAt      *time.Time `json:"changedAt,omitempty"`
	BeforeManifest string     `json:"beforeManifest,omitempty"`
}

// User is a user and the status of every access key it has.
type User struct {
	Name     string      `json:"name"`
	ARN      string      `json:"arn"`
	Keys     []KeyStatus `json:"accessKeys"`
	LastUsed *LastUsed   `json:"lastUsed,omitempty"` // of the key contained
}

// KeyStatus is one access key of a user (never its secret).
type KeyStatus struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	CreateDate *time.Time `json:"createDate,omitempty"`
}

// LastUsed is IAM's record of a key's last use.
type LastUsed struct {
	Date    *time.Time `json:"date,omitempty"`
	Service string     `json:"service,omitempty"`
	Region  string     `json:"region,omitempty"`
}

// RoleInfo is a role and its AWSRevokeOlderSessions policy, if it has one.
type RoleInfo struct {
	Name string `json:"name"`
	ARN  string `json:"arn"`
	ID   string `json:"id"`
	// RevokePolicy is the AWSRevokeOlderSessions policy document, as IAM
	// holds it (null when the role has none).
	RevokePolicy json.RawMessage `json:"revokePolicy"`
	// RevokedBefore is its aws:TokenIssueTime: sessions issued before it
	// are denied.
	RevokedBefore string `json:"revokedBefore,omitempty"`
}

// Keys contains access keys and role sessions through IAM.
type Keys struct {
	IAM IAM
	Now func() time.Time
	// Sleep waits between the read-backs of a change IAM does not show
	// yet (it is eventually consistent); nil waits for real, ctx ending
	// the wait. Tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
	// ReadBackWaits are the waits before each read-back after the first;
	// nil: readBackWaits.
	ReadBackWaits []time.Duration
}

// readBackWaits: five reads over ten seconds, IAM's usual lag and more.
var readBackWaits = []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second}

func (k *Keys) sleep(ctx context.Context, d time.Duration) error {
	if k.Sleep != nil {
		return k.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ReadKey reads a long-term key's state: its user (GetAccessKeyLastUsed
// names it) and the status of each of the user's keys.
func (k *Keys) ReadKey(ctx context.Context, key, caseID string) (*State, error) {
	lu, err := k.IAM.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(key)})
	if err != nil {
		if notFound(err) {
			return nil, inputErr("access key %s is not a key of this account (GetAccessKeyLastUsed: %v): run with credentials of the key's account", key, err)
		}
		return nil, fmt.Errorf("GetAccessKeyLastUsed %s: %w", key, Role.Explain(err))
	}
	name := aws.ToString(lu.UserName)
	if name == "" {
		return nil, fmt.Errorf("GetAccessKeyLastUsed %s names no user", key)
	}
	st := &State{Action: ActionDeactivateKey, AccessKey: key, Case: caseID, ReadAt: k.Now().UTC(), User: &User{Name: name}}
	if u := lu.AccessKeyLastUsed; u != nil {
		st.User.LastUsed = &LastUsed{Date: utc(u.LastUsedDate), Service: aws.ToString(u.ServiceName), Region: aws.ToString(u.Region)}
	}
	found := false
	p := iam.NewListAccessKeysPaginator(k.IAM, &iam.ListAccessKeysInput{UserName: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ListAccessKeys of user %s: %w", name, Role.Explain(err))
		}
		for _, m := range page.AccessKeyMetadata {
			ks := KeyStatus{ID: aws.ToString(m.AccessKeyId), Status: string(m.Status), CreateDate: utc(m.CreateDate)}
			st.User.Keys = append(st.User.Keys, ks)
			if ks.ID == key {
				found = true
				st.Contained = m.Status == iamtypes.StatusTypeInactive
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("access key %s: user %s does not list it (ListAccessKeys); was it deleted?", key, name)
	}
	// GetAccessKeyLastUsed and ListAccessKeys name the user; its ARN
	// (with its path) is GetUser's.
	u, err := k.IAM.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("GetUser %s: %w", name, Role.Explain(err))
	}
	st.User.ARN = aws.ToString(u.User.Arn)
	st.Principal = st.User.ARN
	return st, nil
}

// Deactivate sets key Inactive (never deletes it).
func (k *Keys) Deactivate(ctx context.Context, st *State) error {
	_, err := k.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String(st.AccessKey), UserName: aws.String(st.User.Name), Status: iamtypes.StatusTypeInactive})
	if err != nil {
		return fmt.Errorf("UpdateAccessKey %s of user %s: %w", st.AccessKey, st.User.Name, Role.Explain(err))
	}
	return nil
}

// ReadRole reads a role and its AWSRevokeOlderSessions policy. The role
// must be the one named, path included.
func (k *Keys) ReadRole(ctx context.Context, role RoleARN, key, caseID string) (*State, error) {
	out, err := k.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role.Name)})
	if err != nil {
		if notFound(err) {
			return nil, inputErr("role %s does not exist in account %s (GetRole: NoSuchEntity)", role.Name, role.Account)
		}
		return nil, fmt.Errorf("GetRole %s: %w", role.Name, Role.Explain(err))
	}
	r := out.Role
	info := &RoleInfo{Name: aws.ToString(r.RoleName), ARN: aws.ToString(r.Arn), ID: aws.ToString(r.RoleId)}
	if role.ARN != "" && info.ARN != role.ARN {
		return nil, inputErr("--role %s: the account's role %s is %s (another path): give its exact ARN", role.ARN, role.Name, info.ARN)
	}
	st := &State{Action: ActionRevokeSessions, AccessKey: key, Principal: info.ARN, Case: caseID, ReadAt: k.Now().UTC(), Role: info}
	pol, err := k.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: r.RoleName, PolicyName: aws.String(RevokePolicyName)})
	switch {
	case err != nil && notFound(err):
	case err != nil:
		return nil, fmt.Errorf("GetRolePolicy %s of role %s: %w", RevokePolicyName, info.Name, Role.Explain(err))
	default:
		doc := decodePolicy(aws.ToString(pol.PolicyDocument))
		info.RevokePolicy = doc
		info.RevokedBefore = revokeTime(doc)
		// Only a revocation revokes: a policy of that name that says
		// anything else (an Allow, fewer actions, another condition) is
		// kept in the state, and replaced.
		st.Contained = info.RevokedBefore != ""
	}
	return st, nil
}

// Revoke writes (or replaces) the role's AWSRevokeOlderSessions policy,
// denying every session issued before at.
func (k *Keys) Revoke(ctx context.Context, st *State, at time.Time) error {
	_, err := k.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(st.Role.Name), PolicyName: aws.String(RevokePolicyName),
		PolicyDocument: aws.String(RevokePolicy(at))})
	if err != nil {
		return fmt.Errorf("PutRolePolicy %s on role %s: %w", RevokePolicyName, st.Role.Name, Role.Explain(err))
	}
	return nil
}

// RevokeTimeFormat is how the policy writes its time: RFC 3339 in UTC
// with milliseconds, as IAM's console does.
const RevokeTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// RevokePolicy is the document IAM's "Revoke active sessions" writes: deny
// everything to every session whose token was issued before at.
func RevokePolicy(at time.Time) string {
	return revokePolicy(at.UTC().Format(RevokeTimeFormat))
}

func revokePolicy(before string) string {
	doc := map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Deny", "Action": []string{"*"}, "Resource": []string{"*"},
		"Condition": map[string]any{"DateLessThan": map[string]string{"aws:TokenIssueTime": before}},
	}}}
	b, _ := json.Marshal(doc)
	return string(b)
}

// revokeTime is the time before which a revoke policy denies every
// session: "" unless doc is such a policy and nothing else (IAM's console
// writes the same document, its statement without a list, its time
// perhaps without milliseconds). A role whose policy of that name allows,
// or denies less, has had no session revoked, whatever time it names.
func revokeTime(doc json.RawMessage) string {
	t := tokenIssueTime(doc)
	if t == "" || !samePolicy(string(doc), revokePolicy(t)) {
		return ""
	}
	return t
}

// decodePolicy returns a policy document as JSON: IAM sends it
// URL-encoded. A document that is not JSON is kept as a JSON string.
func decodePolicy(s string) json.RawMessage {
	if u, err := url.QueryUnescape(s); err == nil && json.Valid([]byte(u)) {
		return json.RawMessage(u)
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

// tokenIssueTime is the aws:TokenIssueTime of a revoke policy's
// DateLessThan condition, or "" (also for a document with a key twice in
// one object, which IAM and custody could read differently).
func tokenIssueTime(doc json.RawMessage) string {
	d, err := parseBucketPolicy(string(doc))
	if err != nil {
		return ""
	}
	for _, st := range d.statements() {
		m, _ := st.(map[string]any)
		c, _ := m["Condition"].(map[string]any)
		dl, _ := c["DateLessThan"].(map[string]any)
		if v, ok := dl["aws:TokenIssueTime"].(string); ok {
			return v
		}
	}
	return ""
}

// notFound reports an IAM NoSuchEntity error.
func notFound(err error) bool {
	var nse *iamtypes.NoSuchEntityException
	return errors.As(err, &nse) || strings.Contains(err.Error(), "NoSuchEntity")
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
