package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/contain"
	"github.com/custody-ir/custody/internal/config"
	recovery "github.com/custody-ir/custody/recover"
	"github.com/custody-ir/custody/search"
)

// containOptions are contain key's and contain role's flags.
type containOptions struct {
	accessKey, role, caseID, since string
	dryRun, yes                    bool
	roleOnly                       bool // contain role
	// wrapSealer, set by tests only, wraps the sealer (a writer that
	// fails where a crash would stop the run).
	wrapSealer func(contain.Sealer) contain.Sealer
}

// containResult is contain key's and contain role's --json output.
type containResult struct {
	Action    string `json:"action"`
	AccessKey string `json:"accessKey,omitempty"`
	Principal string `json:"principal"`
	Case      string `json:"case"`
	DryRun    bool   `json:"dryRun"`
	Plan      string `json:"plan,omitempty"` // what a dry run would do
	// Changed: this run changed IAM. Completed: it sealed the state after
	// of a containment an interrupted run had begun.
	Changed   bool `json:"changed"`
	Completed bool `json:"completed"`
	// CompletedManifest sealed the interrupted run's state after when this
	// run then changed IAM again (a role's policy put again with its time).
	CompletedManifest string         `json:"completedManifest,omitempty"`
	BeforeManifest    string         `json:"beforeManifest,omitempty"`
	Manifest          string         `json:"manifest,omitempty"`
	Before            *contain.State `json:"before"`
	After             *contain.State `json:"after,omitempty"`
}

const containLong = `The containment credentials are the AWS SDK's standard chain (AWS_PROFILE,
the environment, AWS_ENDPOINT_URL_IAM, ...): run it as the containment role of
the key's account (configs/iam/contain-policy.json). The custody events are
sealed in the evidence store of --config (else $CUSTODY_CONFIG, else
./custody.yaml), as custody add seals.

The state before is sealed as a custody event (type contain, phase before)
before anything changes; then IAM is changed and read back, and the state
after is sealed with the state before as a second event (phase after)
naming the first. IAM is eventually consistent: a read-back that still shows
the state before is read again for about ten seconds, then reported (exit 3:
run the same command again). A run killed in between is completed by running
the same command again: it finds the sealed state before, sees the change in
place and seals the state after; a role's policy is then put again with the
re-run's time. Nothing is ever deleted.

--dry-run reads IAM (and the sealed CloudTrail logs) and writes nothing:
not IAM, not the evidence store, not the ledger. Without --dry-run the
command asks on a terminal, and otherwise needs --yes; a run that is not
confirmed writes nothing either.

Reverse by hand: aws iam update-access-key --user-name USER --access-key-id
KEY --status Active; aws iam delete-role-policy --role-name ROLE
--policy-name AWSRevokeOlderSessions (docs/contain.md).

`

func newContainCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "contain",
		Short: "Contain compromised credentials: deactivate an access key, revoke a role's sessions (sealed events)",
	}
	var ko containOptions
	key := &cobra.Command{
		Use: "key --access-key KEY --case ID",
		Example: `  # what would happen, changing nothing
  custody contain key --access-key AKIAIOSFODNN7EXAMPLE --case IR-42 --dry-run

  # deactivate a user's long-term key (never deleted), sealing its state before and after
  AWS_PROFILE=contain custody contain key --access-key AKIAIOSFODNN7EXAMPLE --case IR-42 --yes

  # a temporary key: revoke the sessions of the role that issued it, found in the sealed CloudTrail logs
  AWS_PROFILE=contain custody contain key --access-key ASIAY34FZKBOKMUTVV7A --case IR-42 --yes

  # the same when the evidence does not name the role
  custody contain key --access-key ASIAY34FZKBOKMUTVV7A --role arn:aws:iam::111122223333:role/app --case IR-42 --yes

  # afterwards: is the key still used?
  custody search --access-key AKIAIOSFODNN7EXAMPLE --since 7d`,
		Short: "Deactivate an access key (AKIA...), or revoke the sessions of the role that issued a temporary one (ASIA...)",
		Long: `Contain a compromised access key, sealing IAM's state before and after as
custody events of the case.

A long-term key (AKIA...): iam:GetAccessKeyLastUsed names its user,
iam:GetUser and iam:ListAccessKeys give the user and the status of every key
it has (the state before); iam:UpdateAccessKey sets the key Inactive; the
keys are listed again (the state after). A key Inactive already is left as
it is and its state sealed all the same.

A temporary key (ASIA...) cannot be deactivated. The role that issued its
session is read from the sealed CloudTrail records of the key (--since back
from now; as custody search reads them), or given with --role; then every
session of the role issued before now is revoked as IAM's "Revoke active
sessions" does: iam:PutRolePolicy writes the inline policy
AWSRevokeOlderSessions, denying everything when aws:TokenIssueTime is
before now. A policy of that name already there is sealed in the state
before, then replaced with the new time (kept if its time is not earlier than
now: a revocation never moves back). iam:GetRole and iam:GetRolePolicy read
the state.

` + containLong + cli.ExitCodesHelp,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return runContain(cmd.Context(), ko, g.deps(cmd, nil)) },
	}
	ko.addFlags(key, true)
	var ro containOptions
	ro.roleOnly = true
	role := &cobra.Command{
		Use: "role --role ARN --case ID",
		Example: `  custody contain role --role arn:aws:iam::111122223333:role/app --case IR-42 --dry-run
  AWS_PROFILE=contain custody contain role --role arn:aws:iam::111122223333:role/app --case IR-42 --yes`,
		Short: "Revoke every session of a role issued before now (AWSRevokeOlderSessions)",
		Long: `Revoke every session of the role issued before now, as IAM's "Revoke active
sessions" does: iam:PutRolePolicy writes the inline policy
AWSRevokeOlderSessions, denying everything when aws:TokenIssueTime is before
now (an existing one is sealed, then replaced). iam:GetRole and
iam:GetRolePolicy read the state before and after. The role must be of the
containment credentials' account and partition, named by its exact ARN.

` + containLong + cli.ExitCodesHelp,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error { return runContain(cmd.Context(), ro, g.deps(cmd, nil)) },
	}
	ro.addFlags(role, false)
	cmd.AddCommand(key, role)
	return cmd
}

func (o *containOptions) addFlags(cmd *cobra.Command, key bool) {
	fs := cmd.Flags()
	if key {
		fs.StringVar(&o.accessKey, "access-key", "", "the access key id to contain: AKIA... (deactivated) or ASIA... (its role's sessions revoked)")
		fs.StringVar(&o.role, "role", "", "with an ASIA... key: the role that issued its session, when the sealed CloudTrail logs do not name it")
		fs.StringVar(&o.since, "since", "7d", "with an ASIA... key: how far back to read the sealed CloudTrail logs for its session (RFC 3339 time or a duration back)")
	} else {
		fs.StringVar(&o.role, "role", "", "the role whose sessions to revoke (arn:aws:iam::ACCOUNT:role/NAME)")
	}
	fs.StringVar(&o.caseID, "case", "", "case id the sealed states go into, under legal hold (required)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "read and say what would be done; write nothing")
	fs.BoolVar(&o.yes, "yes", false, "change without asking (required without a terminal)")
}

// check checks the flags, before anything is read.
func (o containOptions) check() (*contain.RoleARN, error) {
	if o.caseID == "" {
		return nil, cli.Usagef("--case is required: the states before and after are sealed into a case")
	}
	if strings.ContainsFunc(o.caseID, unicode.IsControl) || len(o.caseID) > 128 {
		return nil, cli.Usagef("--case %q: at most 128 characters, no control characters", o.caseID)
	}
	if o.dryRun && o.yes {
		return nil, cli.Usagef("--dry-run and --yes are alternatives: give one")
	}
	var role *contain.RoleARN
	if o.role != "" {
		r, err := contain.ParseRoleARN(o.role)
		if err != nil {
			return nil, cli.UsageError{Err: err}
		}
		role = &r
	}
	if o.roleOnly {
		if role == nil {
			return nil, cli.Usagef("--role is required: the ARN of the role whose sessions to revoke")
		}
		return role, nil
	}
	if o.accessKey == "" {
		return nil, cli.Usagef("--access-key is required")
	}
	if err := contain.CheckAccessKey(o.accessKey); err != nil {
		return nil, cli.UsageError{Err: err}
	}
	if role != nil && !contain.Temporary(o.accessKey) {
		return nil, cli.Usagef("--role goes with a temporary key (ASIA...): %s is a long-term key, which is deactivated itself", o.accessKey)
	}
	return role, nil
}

// runContain contains a key or a role: flags checked, the target read,
// then (unless --dry-run) confirmed, changed and sealed by contain.Contain.
func runContain(ctx context.Context, o containOptions, d deps) error {
	role, err := o.check()
	if err != nil {
		return err
	}
	ac, err := sourceAWS(ctx)
	if err != nil {
		return err
	}
	keys := &contain.Keys{IAM: iam.NewFromConfig(ac.AWS), Now: d.now}
	var cfg *config.Config
	loadCfg := func() (config.Config, error) {
		if cfg == nil {
			c, err := d.config()
			if err != nil {
				return c, err
			}
			cfg = &c
		}
		return *cfg, nil
	}
	t := contain.Target{AccessKey: o.accessKey, Role: role, Case: o.caseID}
	if role != nil {
		t.RoleFrom = "--role"
	} else if contain.Temporary(o.accessKey) {
		if t.Role, t.RoleFrom, err = containIssuer(ctx, o, d, loadCfg); err != nil {
			return err
		}
	}
	if t.Role != nil {
		id, err := ac.STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return fmt.Errorf("who the containment credentials are (sts:GetCallerIdentity): %w", err)
		}
		if err := t.Role.CheckTarget(aws.ToString(id.Arn)); err != nil {
			return containErr(err)
		}
	}
	before, err := keys.Read(ctx, t)
	if err != nil {
		return containErr(err)
	}
	res := containResult{Action: before.Action, AccessKey: before.AccessKey, Principal: before.Principal, Case: o.caseID, DryRun: o.dryRun, Before: before}
	if o.dryRun {
		res.Plan = contain.Would(before, d.now())
		return d.printer().Result(res, func(w io.Writer) {
			fmt.Fprintf(w, "dry run: %s\n", res.Plan)
			printContainState(w, "now", before)
			fmt.Fprintln(w, "nothing was changed or sealed")
		})
	}
	c, err := loadCfg()
	if err != nil {
		return err
	}
	if err := confirmContain(ctx, d.stderr, before, o.yes); err != nil {
		return err
	}
	ev, err := cli.OpenEvidence(ctx, c, d.now, d.stderr)
	if err != nil {
		return err
	}
	defer ev.Close()
	var sealer contain.Sealer = &contain.ChainSealer{Chain: ev.Chain, Catalog: search.LedgerCatalog{Ledger: ev.Ledger, Bucket: c.Store.Bucket}, Store: ev.AWS.S3()}
	if o.wrapSealer != nil {
		sealer = o.wrapSealer(sealer)
	}
	out, err := contain.Contain(ctx, keys, sealer, t, before)
	if err != nil {
		return containErr(err)
	}
	res.Before, res.After, res.Changed, res.Completed, res.BeforeManifest, res.Manifest = out.Before, out.After, out.Changed, out.Completed, out.BeforeManifest, out.Manifest
	res.CompletedManifest = out.CompletedManifest
	return d.printer().Result(res, func(w io.Writer) {
		switch {
		case out.CompletedManifest != "":
			fmt.Fprintf(w, "completed the containment an interrupted run began (sealed in manifest %s)\n", out.CompletedManifest)
		case out.Completed:
			fmt.Fprintf(w, "completed the containment an interrupted run began (its state before: manifest %s)\n", out.BeforeManifest)
		}
		switch {
		case out.Completed && !out.Changed:
			// said above: that run's change, sealed
		case !out.Changed && out.After.Action == contain.ActionRevokeSessions:
			fmt.Fprintf(w, "role %s's %s policy denies sessions issued before %s already, not earlier than now: kept\n", out.After.Principal, contain.RevokePolicyName, out.After.Role.RevokedBefore)
		case !out.Changed:
			fmt.Fprintf(w, "access key %s was Inactive already: nothing changed\n", out.After.AccessKey)
		case out.After.Action == contain.ActionDeactivateKey:
			fmt.Fprintf(w, "access key %s of %s deactivated (not deleted)\n", out.After.AccessKey, out.After.Principal)
		default:
			fmt.Fprintf(w, "sessions of role %s issued before %s revoked (%s)\n", out.After.Principal, out.After.Role.RevokedBefore, contain.RevokePolicyName)
		}
		printContainState(w, "before", out.Before)
		printContainState(w, "after", out.After)
		fmt.Fprintf(w, "sealed into case %s: state before in manifest %s, state after in manifest %s\n", o.caseID, out.BeforeManifest, out.Manifest)
	})
}

// containIssuer finds the role whose session a temporary key is, from
// the sealed CloudTrail logs. It runs before the containment is
// confirmed: unless --yes said to change, the ledger is opened read-only
// and its search index records nothing, so that a dry run or a run the
// responder declines writes nothing (and migrates no older ledger).
func containIssuer(ctx context.Context, o containOptions, d deps, loadCfg func() (config.Config, error)) (*contain.RoleARN, string, error) {
	now := d.now()
	since, err := recovery.ParseTime("--since", o.since, now)
	if err != nil {
		return nil, "", cli.UsageError{Err: err}
	}
	cfg, err := loadCfg()
	if err != nil {
		return nil, "", err
	}
	src, err := openSearchSource(ctx, d, cfg, false, !o.yes)
	if err != nil {
		return nil, "", err
	}
	defer src.close()
	sr, err := src.searcher(ctx, search.Filter{AccessKeys: []string{o.accessKey}})
	if err != nil {
		return nil, "", err
	}
	is, problems, err := contain.FindIssuer(ctx, src.catalog, sr, o.accessKey, since, now)
	for _, p := range problems {
		fmt.Fprintf(d.stderr, "custody contain: %s: %s\n", p.Object, p.Message)
	}
	if err != nil {
		return nil, "", cli.UsageError{Err: err}
	}
	fmt.Fprintf(d.stderr, "the session of %s was issued by role %s (%d sealed record(s); the first: %s)\n", o.accessKey, is.Role.Name, is.Records, is.From())
	return &is.Role, is.From(), nil
}

// containErr makes errors about the input usage errors (exit 2).
func containErr(err error) error {
	if errors.Is(err, contain.ErrInput) {
		return cli.UsageError{Err: err}
	}
	return err
}

// confirmContain asks on a terminal unless yes; without a terminal and
// without yes it is a usage error.
func confirmContain(ctx context.Context, stderr io.Writer, st *contain.State, yes bool) error {
	if yes {
		return nil
	}
	what := fmt.Sprintf("deactivate access key %s of %s", st.AccessKey, st.Principal)
	if st.Action == contain.ActionRevokeSessions {
		what = "revoke every session of role " + st.Principal + " issued before now"
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return cli.Usagef("%s: without a terminal to confirm on, pass --yes (or --dry-run to see what would be done); nothing was changed", what)
	}
	return cli.Confirm(ctx, os.Stdin, stderr, what+"?", "not confirmed; nothing was changed")
}

// printContainState prints a state in a few lines.
func printContainState(w io.Writer, label string, st *contain.State) {
	if st == nil {
		return
	}
	if st.User != nil {
		var ks []string
		for _, k := range st.User.Keys {
			ks = append(ks, k.ID+" "+k.Status)
		}
		fmt.Fprintf(w, "  %-6s user %s: %s\n", label, st.User.ARN, strings.Join(ks, ", "))
		return
	}
	if st.Role != nil {
		pol := "no " + contain.RevokePolicyName + " policy"
		switch {
		case st.Role.RevokedBefore != "":
			pol = contain.RevokePolicyName + " denies sessions issued before " + st.Role.RevokedBefore
		case st.Role.RevokePolicy != nil:
			pol = contain.RevokePolicyName + " policy that revokes nothing (not a deny of every session issued before a time)"
		}
		fmt.Fprintf(w, "  %-6s role %s: %s\n", label, st.Role.ARN, pol)
	}
}

// [contain] custody search --access-key: the key's containment.

// searchContainment is, for search --access-key KEY, when KEY was first
// found contained by a sealed containment, and how many of the records
// found are after it.
type searchContainment struct {
	contain.Containment
	After int `json:"after"` // records of the search after At
}

// lookupContainment finds the first sealed containment of the one access
// key searched for (nil when it was not contained, or the search is not
// for exactly one key). A sealed state that cannot be read or believed
// is said on stderr: the search goes on without it.
func lookupContainment(ctx context.Context, src *searchSource, keys []string, stderr io.Writer) *searchContainment {
	if len(keys) != 1 || contain.CheckAccessKey(keys[0]) != nil {
		return nil
	}
	hist, err := contain.History(ctx, src.catalog, src.api, "iam:access-key/"+keys[0])
	if err != nil {
		fmt.Fprintf(stderr, "custody search: whether %s was contained is unknown: %v\n", keys[0], err)
		return nil
	}
	first := contain.First(hist)
	if first == nil {
		return nil
	}
	return &searchContainment{Containment: *first}
}

// count wraps emit to count the records after the containment.
func (c *searchContainment) count(emit func(search.Record) error) func(search.Record) error {
	if c == nil {
		return emit
	}
	return func(r search.Record) error {
		if r.Time.After(c.At) {
			c.After++
		}
		return emit(r)
	}
}

// note is the line search prints on stderr.
func (c *searchContainment) note() string {
	return fmt.Sprintf("contained at %s (manifest %s); %d event(s) after it", c.At.Format(time.RFC3339), c.Manifest, c.After)
}

// [end contain]
