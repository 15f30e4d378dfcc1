package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
)

// orgAPI is the one Organizations call the organization source makes,
// with the agent's own credentials (in the management account, or a
// delegated administrator).
type orgAPI interface {
	ListAccounts(context.Context, *organizations.ListAccountsInput, ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error)
}

var _ orgAPI = (*organizations.Client)(nil)

// planOrganization adds to out, when sources.organization is set, the
// organization's account list (OrgAccounts, when selected) and one
// OrgDiscovery for each selected kind that has a schedule, and returns
// the accounts the configuration lists, which Plan plans itself. The
// organization's accounts are listed when a run is due, not here, so that
// an account created later is collected without a restart.
func planOrganization(base awsclient.Config, cfg config.Config, l *ledger.Ledger, now func() time.Time, want func(string) bool, out *[]Collector) []config.Account {
	org := cfg.Sources.Organization
	if org == nil || org.Role == "" {
		return cfg.Sources.Accounts
	}
	api := organizations.NewFromConfig(base.AWS)
	if want("organization") {
		*out = append(*out, &OrgAccounts{API: api, Org: *org, Prefix: cfg.Store.Prefix, Now: now})
	}
	for _, k := range Kinds {
		if (want(k.Kind) || want("organization:"+k.Kind)) && scheduleOf(cfg.Schedules, k.Kind) != "" {
			*out = append(*out, &OrgDiscovery{kind: k.Kind, API: api, base: base, cfg: cfg, ledger: l, now: now})
		}
	}
	return cfg.Sources.Accounts
}

// scheduleOf is the schedule of a collector kind: the field of
// config.Schedules whose key is the kind's name.
func scheduleOf(s config.Schedules, kind string) string {
	v, t := reflect.ValueOf(s), reflect.TypeOf(s)
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("mapstructure") == kind && t.Field(i).Type.Kind() == reflect.String {
			return v.Field(i).String()
		}
	}
	return ""
}

// OrgDiscovery stands for the collectors of one kind in every account of
// the organization: ListAccounts (every page) finds the accounts when a
// run is due, and each ACTIVE account that include and exclude select,
// and that sources.accounts does not list itself, is planned with the
// organization's template, through AssumeRole of its role with the
// external ID. SUSPENDED and PENDING_CLOSURE accounts are reported, not
// collected.
type OrgDiscovery struct {
	kind   string
	API    orgAPI
	base   awsclient.Config
	cfg    config.Config
	ledger *ledger.Ledger
	now    func() time.Time
}

var _ Discoverer = (*OrgDiscovery)(nil)

// Name is organization:<kind>: a failed ListAccounts is this source's
// failed run.
func (d *OrgDiscovery) Name() string { return "organization:" + d.kind }
func (d *OrgDiscovery) Kind() string { return d.kind }

var errOrgDiscoverer = errors.New("the organization's accounts are collected by the collectors its discovery returns, not by the discovery")

// Collect lists the accounts, so that a run of the discoverer reports a
// failed listing as its own, and otherwise fails: the accounts are
// collected by what Discover returns.
func (d *OrgDiscovery) Collect(ctx context.Context, _ Run) (Outcome, error) {
	out := Outcome{Description: "listing the accounts of the organization for " + d.kind}
	if _, err := d.Discover(ctx); err != nil {
		return out, err
	}
	return out, errOrgDiscoverer
}

// Discover lists the organization's accounts and plans the kind's
// collectors for the active ones selected, discovering their own sources
// (trails) in turn. (OrgAccounts reports those not active.)
func (d *OrgDiscovery) Discover(ctx context.Context) ([]Collector, error) {
	org := d.cfg.Sources.Organization
	accounts, err := ListOrganizationAccounts(ctx, d.API)
	if err != nil {
		return nil, err
	}
	explicit := map[string]bool{}
	for _, a := range d.cfg.Sources.Accounts {
		explicit[a.ID] = true
	}
	var members []config.Account
	for _, a := range accounts {
		id, name := aws.ToString(a.Id), aws.ToString(a.Name)
		if explicit[id] || !OrgSelects(*org, id, name) {
			continue // listed by hand (that entry wins), or not selected
		}
		if a.Status != orgtypes.AccountStatusActive {
			continue
		}
		acct := org.Template
		acct.ID = id
		acct.RoleARN = "arn:" + partitionOf(aws.ToString(a.Arn)) + ":iam::" + id + ":role/" + org.Role
		acct.ExternalID = org.ExternalID
		members = append(members, acct)
	}
	sub := d.cfg
	sub.Sources = config.Sources{Accounts: members}
	return Discover(ctx, Plan(ctx, d.base, sub, d.ledger, d.now, d.kind)), nil
}

// ListOrganizationAccounts lists every account of the organization, all
// pages.
func ListOrganizationAccounts(ctx context.Context, api orgAPI) ([]orgtypes.Account, error) {
	var out []orgtypes.Account
	in := &organizations.ListAccountsInput{}
	for page := 0; page < 100000; page++ {
		resp, err := api.ListAccounts(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("organizations ListAccounts: %w", explainAgent(err))
		}
		out = append(out, resp.Accounts...)
		next := aws.ToString(resp.NextToken)
		if next == "" {
			break
		}
		if next == aws.ToString(in.NextToken) {
			return nil, fmt.Errorf("organizations ListAccounts answered page token %q with the same token after %d account(s)", next, len(out))
		}
		in.NextToken = resp.NextToken
	}
	return out, nil
}

// explainAgent names the permission the agent's own role lacks.
func explainAgent(err error) error {
	if p := awsclient.Permission(err); p != "" {
		return fmt.Errorf("%w (grant %s to the agent's role; see configs/iam/agent-role-policy.json)", err, p)
	}
	return err
}

// OrgSelects says whether the organization's include and exclude select an
// account: each entry is an account id or name, or a glob of either
// (path.Match: "sandbox-*", "1111*"). An empty include selects every
// account; exclude wins over include.
func OrgSelects(org config.Organization, id, name string) bool {
	match := func(patterns []string) bool {
		for _, p := range patterns {
			if p == id || p == name {
				return true
			}
			if ok, _ := path.Match(p, id); ok {
				return true
			}
			if ok, _ := path.Match(p, name); ok && name != "" {
				return true
			}
		}
		return false
	}
	if match(org.Exclude) {
		return false
	}
	return len(org.Include) == 0 || match(org.Include)
}

// partitionOf is the partition of an ARN ("aws" when it names none).
func partitionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) == 3 && parts[0] == "arn" && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}

// DefaultOrganizationSchedule is when the organization's account list is
// sealed unless sources.organization.schedule says otherwise.
const DefaultOrganizationSchedule = "@hourly"

// OrgAccounts seals the organization's account list (ListAccounts, every
// page): each account's id, name, e-mail, status, how and when it joined.
// Each selected account that is not ACTIVE (SUSPENDED, PENDING_CLOSURE),
// and so is not collected from, is a warning in the manifest.
type OrgAccounts struct {
	API    orgAPI
	Org    config.Organization
	Prefix string
	Now    func() time.Time
}

func (o *OrgAccounts) Name() string { return "organization:accounts" }
func (o *OrgAccounts) Kind() string { return "organization" }

// Schedule is sources.organization.schedule, or the default.
func (o *OrgAccounts) Schedule() string {
	if o.Org.Schedule != "" {
		return o.Org.Schedule
	}
	return DefaultOrganizationSchedule
}

// Collect lists the accounts, stores the list as JSON and reports the
// selected accounts that are not active.
func (o *OrgAccounts) Collect(ctx context.Context, run Run) (Outcome, error) {
	now := o.Now().UTC()
	out := Outcome{WindowEnd: now, Sources: []string{"organizations:ListAccounts"}, Description: "the organization's accounts"}
	accounts, err := ListOrganizationAccounts(ctx, o.API)
	if err != nil {
		return out, err
	}
	body, err := json.Marshal(struct {
		ListedAt time.Time          `json:"listedAt"`
		Accounts []orgtypes.Account `json:"accounts"`
	}{now, accounts})
	if err != nil {
		return out, err
	}
	management := "organization"
	if len(accounts) > 0 {
		management = managementAccount(aws.ToString(accounts[0].Arn))
	}
	if _, err := run.Put(ctx, custody.ArtifactKey(o.Prefix, management, "global", "organization", now, run.RunID(), "organization-accounts.json"), bytes.NewReader(body),
		custody.PutOptions{Kind: "organization-accounts", Account: management, Source: "organizations:ListAccounts", ContentType: "application/json"}); err != nil {
		return out, err
	}
	inactive := 0
	for _, a := range accounts {
		id, name := aws.ToString(a.Id), aws.ToString(a.Name)
		if a.Status == orgtypes.AccountStatusActive || !OrgSelects(o.Org, id, name) {
			continue
		}
		inactive++
		out.Findings = append(out.Findings, custody.Finding{Severity: custody.SeverityWarning, Kind: finding.OrganizationAccountSuspended, Object: id,
			Message: fmt.Sprintf("account %s (%s) of the organization is %s: custody does not collect from it", id, name, a.Status),
			Remedy: "a closed account can be reopened within 90 days of closing: if it matters to the incident, reopen it (or preserve what the " +
				"management account still holds about it: its organization trail, a Config aggregator), or exclude it in sources.organization.exclude"})
	}
	out.Account = management
	out.Description += fmt.Sprintf(": %d account(s), %d not active", len(accounts), inactive)
	return out, nil
}

// managementAccount is the management account of an account's ARN
// (arn:aws:organizations::<management>:account/o-.../<id>).
func managementAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[4] != "" {
		return parts[4]
	}
	return "organization"
}
