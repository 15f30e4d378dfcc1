package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/ledger"
)

// iamAPI is every IAM read the IAM state snapshot makes; none writes but
// GenerateCredentialReport, which only asks IAM to refresh its report.
type iamAPI interface {
	GetAccountAuthorizationDetails(context.Context, *iam.GetAccountAuthorizationDetailsInput, ...func(*iam.Options)) (*iam.GetAccountAuthorizationDetailsOutput, error)
	GenerateCredentialReport(context.Context, *iam.GenerateCredentialReportInput, ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error)
	GetCredentialReport(context.Context, *iam.GetCredentialReportInput, ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error)
	ListAccessKeys(context.Context, *iam.ListAccessKeysInput, ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	GetAccessKeyLastUsed(context.Context, *iam.GetAccessKeyLastUsedInput, ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
}

var _ iamAPI = (*iam.Client)(nil)

// IAMState snapshots an account's IAM state (users, groups, roles and
// their trust policies, managed and inline policies, the credential
// report, access keys and their last use) into sealed artifacts, compares
// it with the previous snapshot and reports what appeared.
type IAMState struct {
	API     iamAPI
	Ledger  *ledger.Ledger
	Account string
	Region  string // where the artifacts are filed: IAM itself is global
	Prefix  string
	Now     func() time.Time
	// ReportWait bounds the wait for IAM to generate the credential
	// report (2 minutes when zero); Poll is the pause between asks (2
	// seconds when zero).
	ReportWait, Poll time.Duration
}

func (c *IAMState) Name() string { return "iam:" + c.Account }
func (c *IAMState) Kind() string { return "iam" }

// IAMSnapshot is an account's IAM state at one time. Policy documents
// are decoded JSON with sorted keys.
type IAMSnapshot struct {
	Account          string            `json:"account"`
	TakenAt          time.Time         `json:"takenAt"`
	Users            []IAMUser         `json:"users"`
	Groups           []IAMGroup        `json:"groups"`
	Roles            []IAMRole         `json:"roles"`
	Policies         []IAMPolicy       `json:"policies"`
	CredentialReport *CredentialReport `json:"credentialReport,omitempty"`
	// ReportGeneratedAt is when IAM generated the credential report.
	ReportGeneratedAt *time.Time `json:"reportGeneratedAt,omitempty"`
}

// IAMPrincipalBase is what users, groups and roles share.
type IAMPrincipalBase struct {
	Name             string                     `json:"name"`
	ARN              string                     `json:"arn"`
	ID               string                     `json:"id"`
	Path             string                     `json:"path"`
	CreateDate       *time.Time                 `json:"createDate,omitempty"`
	AttachedPolicies []string                   `json:"attachedPolicies"`
	InlinePolicies   map[string]json.RawMessage `json:"inlinePolicies"`
	Boundary         string                     `json:"permissionsBoundary,omitempty"`
}

// IAMUser is a user, its groups and access keys.
type IAMUser struct {
	IAMPrincipalBase
	Groups     []string       `json:"groups"`
	AccessKeys []IAMAccessKey `json:"accessKeys"`
	// KeysUnread says why the user's access keys could not be listed.
	KeysUnread     string `json:"keysUnread,omitempty"`
	keysPermission string // the permission that was missing, if one was
}

// IAMAccessKey is an access key (never its secret) and its last use.
type IAMAccessKey struct {
	ID              string     `json:"id"`
	Status          string     `json:"status"`
	CreateDate      *time.Time `json:"createDate,omitempty"`
	LastUsed        *time.Time `json:"lastUsed,omitempty"`
	LastUsedService string     `json:"lastUsedService,omitempty"`
	LastUsedRegion  string     `json:"lastUsedRegion,omitempty"`
	LastUseUnread   string     `json:"lastUseUnread,omitempty"`
	permission      string     // the permission that was missing, if one was
}

// IAMGroup is a group.
type IAMGroup struct{ IAMPrincipalBase }

// IAMRole is a role with its trust policy and the principals it trusts.
type IAMRole struct {
	IAMPrincipalBase
	TrustPolicy       json.RawMessage `json:"trustPolicy"`
	TrustedPrincipals []string        `json:"trustedPrincipals"`
	LastUsed          *time.Time      `json:"lastUsed,omitempty"`
}

// IAMPolicy is a customer managed policy with its default version.
type IAMPolicy struct {
	Name             string          `json:"name"`
	ARN              string          `json:"arn"`
	ID               string          `json:"id"`
	Path             string          `json:"path"`
	DefaultVersion   string          `json:"defaultVersion"`
	Document         json.RawMessage `json:"document"`
	AttachmentCount  int32           `json:"attachmentCount"`
	UpdateDate       *time.Time      `json:"updateDate,omitempty"`
	PermissionsUsage int32           `json:"permissionsBoundaryUsageCount"`
}

// iamCursor is what the ledger keeps of the newest sealed snapshot: its
// items, to compare the next one with.
type iamCursor struct {
	TakenAt time.Time         `json:"takenAt"`
	Items   map[string]string `json:"items"`
}

// Collect reads the account's IAM state, stores it and reports changes.
// The previous snapshot's items move forward only after the manifest is
// sealed (AfterSeal): a run killed before sealing compares again with
// the same baseline.
func (c *IAMState) Collect(ctx context.Context, run Run) (Outcome, error) {
	snap := IAMSnapshot{Account: c.Account, TakenAt: c.Now().UTC()}
	out := Outcome{Account: c.Account, Region: c.Region, WindowStart: snap.TakenAt, Sources: []string{"iam:" + c.Account},
		Description: "IAM state of account " + c.Account}
	object := "iam:" + c.Account
	warn := func(msg string, err error) {
		fd := custody.Finding{Severity: custody.SeverityWarning, Kind: finding.IAMUnreadable, Object: object, Message: msg}
		if err != nil {
			fd.Message += ": " + readError(err)
			fd.Remedy = awsclient.CollectorRole.Grant(err)
		}
		out.Findings = append(out.Findings, fd)
	}
	if err := c.readDetails(ctx, &snap, warn); err != nil {
		out.WindowEnd = c.Now().UTC()
		return out, fmt.Errorf("GetAccountAuthorizationDetails: %w", awsclient.CollectorRole.Explain(err))
	}
	c.readAccessKeys(ctx, &snap)
	for _, u := range snap.Users {
		if u.KeysUnread != "" {
			out.Findings = append(out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.IAMUnreadable, Object: object,
				Message: "access keys of user " + u.Name + ": " + u.KeysUnread, Remedy: awsclient.CollectorRole.Advice(u.keysPermission)})
		}
		for _, k := range u.AccessKeys {
			if k.LastUseUnread != "" {
				out.Findings = append(out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.IAMUnreadable, Object: object,
					Message: "last use of access key " + k.ID + " of user " + u.Name + ": " + k.LastUseUnread, Remedy: awsclient.CollectorRole.Advice(k.permission)})
				break // one finding a user is enough
			}
		}
	}
	csvBody, err := c.credentialReport(ctx)
	if err != nil {
		warn("credential report", err)
	} else {
		rep, perr := ParseCredentialReport(bytes.NewReader(csvBody))
		if perr != nil {
			warn("credential report malformed (sealed as IAM sent it)", perr)
		} else {
			snap.CredentialReport = &rep
		}
		key := custody.ArtifactKey(c.Prefix, c.Account, c.Region, "iam", snap.TakenAt, run.RunID(), c.Account+".credential-report.csv")
		if _, err := run.Put(ctx, key, bytes.NewReader(csvBody), custody.PutOptions{Kind: "iam-credential-report", Account: c.Account, Region: c.Region,
			Source: "iam:GetCredentialReport", ContentType: "text/csv"}); err != nil {
			return out, err
		}
	}
	body, err := json.MarshalIndent(snap, "", "  ")
	if err != nil {
		return out, err
	}
	key := custody.ArtifactKey(c.Prefix, c.Account, c.Region, "iam", snap.TakenAt, run.RunID(), c.Account+".iam.json")
	if _, err := run.Put(ctx, key, bytes.NewReader(body), custody.PutOptions{Kind: "iam", Account: c.Account, Region: c.Region,
		Source: "iam:GetAccountAuthorizationDetails", ContentType: "application/json"}); err != nil {
		return out, err
	}
	out.WindowEnd = c.Now().UTC()

	var prev *iamCursor
	if raw, err := c.Ledger.Cursor(ctx, "iam", c.Account); err == nil {
		var p iamCursor
		if json.Unmarshal([]byte(raw), &p) == nil && p.Items != nil {
			prev = &p
		}
	}
	items := IAMItems(snap)
	if prev != nil {
		// What could not be read is unknown, not gone: keep its old items.
		for _, u := range snap.Users {
			if u.KeysUnread != "" {
				for k, v := range prev.Items {
					if strings.HasPrefix(k, "accessKey/"+u.Name+"/") {
						items[k] = v
					}
				}
			}
		}
	}
	var prevItems map[string]string
	if prev != nil {
		prevItems = prev.Items
	}
	changes := diffState(prevItems, items)
	out.Findings = append(out.Findings, iamFindings(object, c.Account, changes)...)
	cursor, err := json.Marshal(iamCursor{TakenAt: snap.TakenAt, Items: items})
	if err != nil {
		return out, err
	}
	out.AfterSeal(func(ctx context.Context) error {
		if err := c.Ledger.RecordStateChanges(ctx, ledgerChanges("iam", c.Account, snap.TakenAt, run.RunID(), changes, iamRisk(c.Account))); err != nil {
			return err
		}
		return c.Ledger.SetCursor(ctx, "iam", c.Account, string(cursor))
	})
	return out, nil
}

// readError says why a read failed, briefly when access was denied
// ("ListAccessKeys: access denied": the remedy names the permission).
func readError(err error) string {
	if awsclient.AccessDenied(err) {
		if op := awsclient.Operation(err); op != "" {
			return op + ": access denied"
		}
	}
	return err.Error()
}

// readDetails reads every page of GetAccountAuthorizationDetails: users,
// groups, roles and the account's own managed policies. AWS managed
// policies are AWS's and public: which of them are attached is recorded
// with each user, group and role.
func (c *IAMState) readDetails(ctx context.Context, snap *IAMSnapshot, warn func(string, error)) error {
	in := &iam.GetAccountAuthorizationDetailsInput{Filter: []iamtypes.EntityType{
		iamtypes.EntityTypeUser, iamtypes.EntityTypeGroup, iamtypes.EntityTypeRole, iamtypes.EntityTypeLocalManagedPolicy}}
	policy := func(owner, name, doc string) json.RawMessage {
		d, err := decodePolicy(doc)
		if err != nil {
			warn(owner+" policy "+name, err)
		}
		return d
	}
	base := func(kind, name, arn, id, path string, created *time.Time, attached []iamtypes.AttachedPolicy, inline []iamtypes.PolicyDetail, boundary *iamtypes.AttachedPermissionsBoundary) IAMPrincipalBase {
		b := IAMPrincipalBase{Name: name, ARN: arn, ID: id, Path: path, CreateDate: utc(created), AttachedPolicies: []string{}, InlinePolicies: map[string]json.RawMessage{}}
		for _, a := range attached {
			b.AttachedPolicies = append(b.AttachedPolicies, aws.ToString(a.PolicyArn))
		}
		sort.Strings(b.AttachedPolicies)
		for _, p := range inline {
			b.InlinePolicies[aws.ToString(p.PolicyName)] = policy(kind+" "+name, aws.ToString(p.PolicyName), aws.ToString(p.PolicyDocument))
		}
		if boundary != nil {
			b.Boundary = aws.ToString(boundary.PermissionsBoundaryArn)
		}
		return b
	}
	snap.Users, snap.Groups, snap.Roles, snap.Policies = []IAMUser{}, []IAMGroup{}, []IAMRole{}, []IAMPolicy{}
	for page := 0; ; page++ {
		o, err := c.API.GetAccountAuthorizationDetails(ctx, in)
		if err != nil {
			return err
		}
		for _, u := range o.UserDetailList {
			user := IAMUser{IAMPrincipalBase: base("user", aws.ToString(u.UserName), aws.ToString(u.Arn), aws.ToString(u.UserId), aws.ToString(u.Path), u.CreateDate,
				u.AttachedManagedPolicies, u.UserPolicyList, u.PermissionsBoundary), Groups: append([]string{}, u.GroupList...), AccessKeys: []IAMAccessKey{}}
			sort.Strings(user.Groups)
			snap.Users = append(snap.Users, user)
		}
		for _, g := range o.GroupDetailList {
			snap.Groups = append(snap.Groups, IAMGroup{base("group", aws.ToString(g.GroupName), aws.ToString(g.Arn), aws.ToString(g.GroupId), aws.ToString(g.Path), g.CreateDate,
				g.AttachedManagedPolicies, g.GroupPolicyList, nil)})
		}
		for _, r := range o.RoleDetailList {
			name := aws.ToString(r.RoleName)
			role := IAMRole{IAMPrincipalBase: base("role", name, aws.ToString(r.Arn), aws.ToString(r.RoleId), aws.ToString(r.Path), r.CreateDate,
				r.AttachedManagedPolicies, r.RolePolicyList, r.PermissionsBoundary), TrustedPrincipals: []string{}}
			role.TrustPolicy = policy("role "+name, "trust", aws.ToString(r.AssumeRolePolicyDocument))
			if len(role.TrustPolicy) > 0 {
				ps, err := TrustedPrincipals(role.TrustPolicy)
				if err != nil {
					warn("role "+name+" trust policy", err)
				}
				if ps != nil {
					role.TrustedPrincipals = ps
				}
			}
			if r.RoleLastUsed != nil {
				role.LastUsed = utc(r.RoleLastUsed.LastUsedDate)
			}
			snap.Roles = append(snap.Roles, role)
		}
		for _, p := range o.Policies {
			pol := IAMPolicy{Name: aws.ToString(p.PolicyName), ARN: aws.ToString(p.Arn), ID: aws.ToString(p.PolicyId), Path: aws.ToString(p.Path),
				DefaultVersion: aws.ToString(p.DefaultVersionId), AttachmentCount: aws.ToInt32(p.AttachmentCount), UpdateDate: utc(p.UpdateDate),
				PermissionsUsage: aws.ToInt32(p.PermissionsBoundaryUsageCount)}
			for _, v := range p.PolicyVersionList {
				if v.IsDefaultVersion || aws.ToString(v.VersionId) == pol.DefaultVersion {
					pol.Document = policy("managed", pol.ARN, aws.ToString(v.Document))
				}
			}
			snap.Policies = append(snap.Policies, pol)
		}
		if !o.IsTruncated || aws.ToString(o.Marker) == "" {
			return nil
		}
		if page > 100000 {
			return fmt.Errorf("more than %d pages: the marker never ends", page)
		}
		in.Marker = o.Marker
	}
}

// keyWorkers is how many users' access keys are read at once.
const keyWorkers = 8

// readAccessKeys lists every user's access keys (all pages) and their
// last use. A user whose keys cannot be read says why (KeysUnread).
func (c *IAMState) readAccessKeys(ctx context.Context, snap *IAMSnapshot) {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < keyWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c.userKeys(ctx, &snap.Users[i])
			}
		}()
	}
	for i := range snap.Users {
		next <- i
	}
	close(next)
	wg.Wait()
}

func (c *IAMState) userKeys(ctx context.Context, u *IAMUser) {
	in := &iam.ListAccessKeysInput{UserName: aws.String(u.Name)}
	for {
		o, err := c.API.ListAccessKeys(ctx, in)
		if err != nil {
			u.KeysUnread, u.keysPermission = readError(err), awsclient.Permission(err)
			return
		}
		for _, m := range o.AccessKeyMetadata {
			k := IAMAccessKey{ID: aws.ToString(m.AccessKeyId), Status: string(m.Status), CreateDate: utc(m.CreateDate)}
			lu, err := c.API.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: m.AccessKeyId})
			switch {
			case err != nil:
				k.LastUseUnread, k.permission = readError(err), awsclient.Permission(err)
			case lu.AccessKeyLastUsed != nil:
				k.LastUsed = utc(lu.AccessKeyLastUsed.LastUsedDate)
				k.LastUsedService, k.LastUsedRegion = aws.ToString(lu.AccessKeyLastUsed.ServiceName), aws.ToString(lu.AccessKeyLastUsed.Region)
			}
			u.AccessKeys = append(u.AccessKeys, k)
		}
		if !o.IsTruncated || aws.ToString(o.Marker) == "" {
			break
		}
		in.Marker = o.Marker
	}
	sort.Slice(u.AccessKeys, func(i, j int) bool { return u.AccessKeys[i].ID < u.AccessKeys[j].ID })
}

// credentialReport asks IAM for a fresh credential report and waits
// (at most ReportWait, by the injected clock) until it is complete, then
// returns it as IAM sent it: a CSV.
func (c *IAMState) credentialReport(ctx context.Context) ([]byte, error) {
	wait, poll := c.ReportWait, c.Poll
	if wait <= 0 {
		wait = 2 * time.Minute
	}
	if poll <= 0 {
		poll = 2 * time.Second
	}
	deadline := c.Now().Add(wait)
	for {
		o, err := c.API.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		if err != nil {
			return nil, err
		}
		if o.State == iamtypes.ReportStateTypeComplete {
			break
		}
		if !c.Now().Before(deadline) {
			return nil, fmt.Errorf("GenerateCredentialReport: still %s after %s", o.State, wait)
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	o, err := c.API.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		return nil, err
	}
	return o.Content, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// IAMItems flattens a snapshot into the items compared between
// snapshots, each named by what it is ("user/alice",
// "accessKey/alice/AKIA...", "role/deploy/principal/AWS:arn:...",
// "role/deploy/trust", "role/deploy/inline/p", "policy/arn:...") with
// its canonical JSON. Last-use times are left out: they change with use,
// not with configuration.
func IAMItems(s IAMSnapshot) map[string]string {
	items := map[string]string{}
	principal := func(kind string, b IAMPrincipalBase) string {
		owner := kind + "/" + b.Name
		items[owner] = stateValue(map[string]string{"arn": b.ARN, "id": b.ID, "path": b.Path})
		if len(b.AttachedPolicies) > 0 { // none is no item: a new user is one change
			items[owner+"/attached"] = stateValue(b.AttachedPolicies)
		}
		for name, doc := range b.InlinePolicies {
			items[owner+"/inline/"+name] = stateValue(doc)
		}
		if b.Boundary != "" {
			items[owner+"/boundary"] = stateValue(b.Boundary)
		}
		return owner
	}
	for _, u := range s.Users {
		owner := principal("user", u.IAMPrincipalBase)
		if len(u.Groups) > 0 {
			items[owner+"/groups"] = stateValue(u.Groups)
		}
		for _, k := range u.AccessKeys {
			items["accessKey/"+u.Name+"/"+k.ID] = stateValue(map[string]any{"status": k.Status, "createDate": k.CreateDate})
		}
	}
	for _, g := range s.Groups {
		principal("group", g.IAMPrincipalBase)
	}
	for _, r := range s.Roles {
		owner := principal("role", r.IAMPrincipalBase)
		items[owner+"/trust"] = stateValue(r.TrustPolicy)
		for _, p := range r.TrustedPrincipals {
			items[owner+"/principal/"+p] = stateValue(map[string]string{"account": PrincipalAccount(p)})
		}
	}
	for _, p := range s.Policies {
		items["policy/"+p.ARN] = stateValue(map[string]any{"defaultVersion": p.DefaultVersion, "document": p.Document})
	}
	return items
}

// iamRisk says why an item's change opens the account, when it does: a
// role newly trusting another account, or everyone.
func iamRisk(account string) func(stateChange) string {
	return func(c stateChange) string {
		_, p, ok := strings.Cut(c.Item, "/principal/")
		if !ok || !strings.HasPrefix(c.Item, "role/") || c.Change != "added" {
			return ""
		}
		switch a := PrincipalAccount(p); {
		case a == PrincipalEveryone:
			return `the role now trusts everyone ("*")`
		case a != "" && a != account:
			return "the role now trusts account " + a
		}
		return ""
	}
}

// iamFindings turns changes into findings: a new user, a new access key,
// a new trusted principal, a changed policy or attachment (of a user,
// group or role that existed before, or a managed policy).
func iamFindings(object, account string, changes []stateChange) []custody.Finding {
	// A new owner (user, group, role) is reported as such, not its parts;
	// a trust policy that now trusts someone new, as that.
	added, newTrust := map[string]bool{}, map[string]bool{}
	for _, c := range changes {
		if c.Change == "added" {
			added[c.Item] = true
			if role, _, ok := strings.Cut(c.Item, "/principal/"); ok {
				newTrust[role] = true
			}
		}
	}
	risk := iamRisk(account)
	var out []custody.Finding
	for _, c := range changes {
		parts := strings.SplitN(c.Item, "/", 4)
		kind := parts[0]
		owner := ""
		if len(parts) >= 2 {
			owner = kind + "/" + parts[1]
		}
		switch {
		case kind == "user" && len(parts) == 2 && c.Change == "added":
			out = append(out, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.IAMUserNew, Object: object,
				Message: "new IAM user " + parts[1]})
		case kind == "accessKey" && len(parts) == 3 && c.Change == "added":
			out = append(out, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.IAMAccessKeyNew, Object: object,
				Message: fmt.Sprintf("new access key %s of user %s", parts[2], parts[1]),
				Remedy:  "confirm who created it (CloudTrail CreateAccessKey); deactivate it if no one should have"})
		case kind == "role" && len(parts) >= 4 && parts[2] == "principal" && c.Change == "added":
			fd := custody.Finding{Severity: custody.SeverityWarning, Kind: finding.IAMTrustNew, Object: object,
				Message: fmt.Sprintf("role %s now trusts %s", parts[1], parts[3])}
			if r := risk(c); r != "" {
				fd.Severity, fd.Message = custody.SeverityFailure, fd.Message+" ("+r+")"
				fd.Remedy = "confirm the trust policy change (CloudTrail UpdateAssumeRolePolicy or CreateRole); revert it if no one should have made it"
			}
			out = append(out, fd)
		case kind == "policy" && len(parts) >= 2:
			out = append(out, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.IAMPolicyChange, Object: object,
				Message: fmt.Sprintf("managed policy %s %s", strings.TrimPrefix(c.Item, "policy/"), c.Change)})
		case (kind == "user" || kind == "group" || kind == "role") && len(parts) >= 3 && !added[owner] && (parts[2] != "trust" || !newTrust[owner]) &&
			(parts[2] == "attached" || parts[2] == "inline" || parts[2] == "boundary" || parts[2] == "groups" || parts[2] == "trust"):
			what := parts[2]
			if what == "inline" && len(parts) == 4 {
				what = "inline policy " + parts[3]
			}
			if what == "trust" {
				what = "trust policy"
			}
			out = append(out, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.IAMPolicyChange, Object: object,
				Message: fmt.Sprintf("%s %s: %s %s", kind, parts[1], what, c.Change)})
		}
	}
	return out
}

// ledgerChanges are the ledger's rows for a snapshot's changes.
func ledgerChanges(collector, scope string, at time.Time, runID string, changes []stateChange, risk func(stateChange) string) []ledger.StateChange {
	out := make([]ledger.StateChange, 0, len(changes))
	for _, c := range changes {
		out = append(out, ledger.StateChange{Collector: collector, Scope: scope, At: at, Item: c.Item, Change: c.Change,
			Before: c.Before, After: c.After, Risk: risk(c), RunID: runID})
	}
	return out
}
