package collector

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/testaws"
)

// createOrgAccount creates an account in the organization and returns its id.
func createOrgAccount(t *testing.T, org *organizations.Client, name string) string {
	t.Helper()
	out, err := org.CreateAccount(context.Background(), &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(name + "@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.CreateAccountStatus.AccountId)
	if id == "" {
		t.Fatalf("CreateAccount %s: no account id in %+v", name, out.CreateAccountStatus)
	}
	return id
}

func names(cs []Collector) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name())
	}
	sort.Strings(out)
	return out
}

// The organization's accounts, on moto's Organizations: three created, one
// excluded by a glob on its name, one suspended (CloseAccount), one listed
// by hand with its own regions; an account created between two runs is
// picked up by the second, with the same plan (no restart).
func TestOrganizationAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	le := testaws.Require(t)
	mgmt := randomAccount(t)
	base := accountConfig(t, le, mgmt) // the agent's credentials, in the management account
	org := organizations.NewFromConfig(base.AWS)
	if _, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	prod := createOrgAccount(t, org, "prod")
	sandbox := createOrgAccount(t, org, "sandbox-1")
	closed := createOrgAccount(t, org, "old")
	byHand := createOrgAccount(t, org, "payments")
	if _, err := org.CloseAccount(ctx, &organizations.CloseAccountInput{AccountId: aws.String(closed)}); err != nil {
		t.Fatal(err)
	}
	// A finding in prod, read through the role assumed there.
	sh := securityhub.NewFromConfig(accountConfig(t, le, prod).AWS)
	if _, err := sh.EnableSecurityHub(ctx, &securityhub.EnableSecurityHubInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: []shtypes.AwsSecurityFinding{
		shFinding(prod, "in-prod", time.Now().Add(-time.Hour), shtypes.SeverityLabelHigh, "AwsS3Bucket", "arn:aws:s3:::prod-data")}}); err != nil {
		t.Fatal(err)
	}

	cfg := config.Config{Store: e.store, Schedules: config.Schedules{Findings: "@hourly"}, Sources: config.Sources{
		Accounts: []config.Account{{ID: byHand, Regions: []string{"eu-west-1"}}},
		Organization: &config.Organization{Role: "custody-collector", ExternalID: "org-ext", Exclude: []string{"sandbox-*"},
			Template: config.Account{Regions: []string{"us-east-1"}, Buckets: []string{"prod-data"}}},
	}}
	planned := Plan(ctx, base, cfg, e.Ledger, time.Now, "")
	if got := names(planned); !slices.Equal(got, []string{"findings:" + byHand + "/eu-west-1", "organization:accounts", "organization:findings"}) {
		t.Fatalf("planned %v: the account listed by hand, the organization's account list and its findings source expected", got)
	}

	found := Discover(ctx, planned)
	want := []string{"findings:" + byHand + "/eu-west-1", "findings:" + mgmt + "/us-east-1", "findings:" + prod + "/us-east-1", "organization:accounts"}
	sort.Strings(want)
	if got := names(found); !slices.Equal(got, want) {
		t.Fatalf("discovered %v, want %v (sandbox-1 %s excluded, old %s suspended)", got, want, sandbox, closed)
	}
	for _, c := range found {
		res, err := RunOne(ctx, e.Chain, c)
		if err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		switch c.Name() {
		case "organization:accounts":
			if len(res.Found) != 1 || res.Found[0].Kind != finding.OrganizationAccountSuspended || res.Found[0].Object != closed ||
				!strings.Contains(res.Found[0].Message, "SUSPENDED") {
				t.Fatalf("the suspended account's report: %+v", res.Found)
			}
			var list struct {
				Accounts []struct {
					ID           string `json:"Id"`
					Name, Status string
				}
			}
			for _, m := range e.verify(t).Manifests {
				for _, s := range m.Subjects() {
					if m.Sequence == res.Manifest && s.Annotations.Kind == "organization-accounts" {
						if err := json.Unmarshal(e.read(t, s.Name), &list); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			if len(list.Accounts) != 5 { // the management account and the four created
				t.Fatalf("the sealed account list: %+v", list)
			}
		case "findings:" + prod + "/us-east-1":
			d := c.(*Detectors)
			if !slices.Equal(d.Buckets, []string{"prod-data"}) {
				t.Errorf("the template's buckets were not given to %s: %v", c.Name(), d.Buckets)
			}
			recs := e.detectorRecords(t, res.Manifest)
			if len(recs) != 1 || recordIDs(recs)[0] != "in-prod" || len(kindsOf(res.Found, finding.DetectorFindingOnBucket)) != 1 {
				t.Fatalf("prod's findings through its role: %v, %+v", recordIDs(recs), res.Found)
			}
		}
	}

	// A new account, and the same plan run again.
	later := createOrgAccount(t, org, "new-team")
	if got := names(Discover(ctx, planned)); !slices.Contains(got, "findings:"+later+"/us-east-1") {
		t.Fatalf("the account created since (%s) was not picked up: %v", later, got)
	}
}

// ListAccounts failing (no organization, or no permission) fails the
// organization's source alone, sealed as its failed run.
func TestOrganizationListAccountsFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t)
	le := testaws.Require(t)
	base := accountConfig(t, le, randomAccount(t)) // in no organization
	cfg := config.Config{Store: e.store, Schedules: config.Schedules{Findings: "@hourly"}, Sources: config.Sources{
		Organization: &config.Organization{Role: "custody-collector", Template: config.Account{Regions: []string{"us-east-1"}}},
	}}
	found := Discover(ctx, Plan(ctx, base, cfg, e.Ledger, time.Now, "findings"))
	if len(found) != 1 {
		t.Fatalf("discovered %v", names(found))
	}
	f, ok := found[0].(*Failed)
	if !ok || f.Name() != "organization:findings" || !strings.Contains(f.Err.Error(), "ListAccounts") {
		t.Fatalf("discovered %T %s: %v", found[0], found[0].Name(), found[0])
	}
	res, err := RunOne(ctx, e.Chain, f)
	if err == nil || res.Manifest == 0 || !strings.Contains(res.Error, "AWSOrganizationsNotInUseException") {
		t.Fatalf("the failed listing's run: %+v, %v", res, err)
	}
}

func TestOrgSelects(t *testing.T) {
	org := config.Organization{Include: []string{"prod-*", "111122223333"}, Exclude: []string{"prod-legacy", "2222*"}}
	for _, tc := range []struct {
		id, name string
		want     bool
	}{
		{"333344445555", "prod-eu", true},
		{"111122223333", "anything", true},
		{"333344445555", "prod-legacy", false},
		{"222233334444", "prod-us", false},
		{"444455556666", "dev", false},
	} {
		if got := OrgSelects(org, tc.id, tc.name); got != tc.want {
			t.Errorf("OrgSelects(%s, %s) = %v", tc.id, tc.name, got)
		}
	}
	if !OrgSelects(config.Organization{}, "444455556666", "dev") {
		t.Error("no include: every account is selected")
	}
}

// The agent, started once, collects an account created in the
// organization while it runs, and reports health and metrics per account.
func TestAgentOrganizationPerAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	le := testaws.Require(t)
	mgmt := randomAccount(t)
	base := accountConfig(t, le, mgmt)
	org := organizations.NewFromConfig(base.AWS)
	if _, err := org.CreateOrganization(context.Background(), &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll}); err != nil {
		t.Fatal(err)
	}
	first := createOrgAccount(t, org, "first")
	cfg := config.Config{Store: e.store, Schedules: config.Schedules{Findings: "@every 1s"}, Sources: config.Sources{
		Organization: &config.Organization{Role: "custody-collector", Template: config.Account{Regions: []string{"us-east-1"}}},
	}}
	a := &Agent{Chain: e.Chain, Collectors: Plan(context.Background(), base, cfg, e.Ledger, time.Now, ""), Schedules: cfg.Schedules, UnhealthyAfter: 3, Now: time.Now}
	url := httptestServer(t, a.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	runs := func(name string) int {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.status[name].Runs
	}
	wait := func(name string) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); runs(name) == 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never ran", name)
			}
		}
	}
	wait("findings:" + first + "/us-east-1")
	later := createOrgAccount(t, org, "later")
	wait("findings:" + later + "/us-east-1")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	var health struct {
		Status   string
		Accounts map[string]accountHealth
	}
	if err := json.Unmarshal([]byte(get(t, url+"/healthz")), &health); err != nil {
		t.Fatal(err)
	}
	for _, acct := range []string{mgmt, first, later} {
		if h := health.Accounts[acct]; h.Status != "ok" || h.Sources != 1 {
			t.Errorf("/healthz for %s: %+v", acct, h)
		}
	}
	if h := health.Accounts[""]; h.Sources != 2 { // organization:findings and organization:accounts
		t.Errorf("/healthz for the organization's listing: %+v", h)
	}
	metrics := get(t, url+"/metrics")
	if !strings.Contains(metrics, `custody_account_sources{account="`+later+`"} 1`) || !strings.Contains(metrics, `custody_account_failing_sources{account="`+later+`"} 0`) {
		t.Errorf("/metrics lacks the new account's series:\n%s", metrics)
	}
}

// /healthz and the per-account gauges name the account whose source fails.
func TestAgentHealthPerAccount(t *testing.T) {
	a := &Agent{Collectors: []Collector{
		&Posture{Bucket: "data", Account: "111122223333"},
		&Detectors{Account: "444455556666", Region: "us-east-1"},
		&Failed{Source: &TrailDiscovery{Account: "444455556666", Region: "eu-west-1"}},
	}, Schedules: config.Schedules{Posture: "@hourly", Findings: "@hourly", CloudTrail: "@hourly"}, UnhealthyAfter: 2, Now: time.Now}
	url := httptestServer(t, a.Handler())
	for range 2 {
		a.record("findings:444455556666/us-east-1", time.Now(), errors.New("GetFindings: connection refused"))
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var health struct {
		Status   string
		Accounts map[string]accountHealth
	}
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil || resp.StatusCode != http.StatusServiceUnavailable || health.Status != "degraded" {
		t.Fatalf("/healthz: %d %+v, %v", resp.StatusCode, health, err)
	}
	if h := health.Accounts["444455556666"]; h.Status != "degraded" || h.Sources != 2 || !slices.Equal(h.Failing, []string{"findings:444455556666/us-east-1"}) {
		t.Errorf("the failing account: %+v", h)
	}
	if h := health.Accounts["111122223333"]; h.Status != "ok" || h.Sources != 1 {
		t.Errorf("the healthy account: %+v", h)
	}
	metrics := get(t, url+"/metrics")
	for _, want := range []string{`custody_account_failing_sources{account="444455556666"} 1`, `custody_account_failing_sources{account="111122223333"} 0`,
		`custody_account_sources{account="444455556666"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
