package collector

// The shipped least-privilege IAM policies, enforced: the collectors run
// as production builds them, with the credentials those policies grant,
// against a moto server of the test's own that enforces IAM.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/collector/accesslog/altest"
	"github.com/custody-ir/custody/collector/cloudtrail"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/config"
	"github.com/custody-ir/custody/internal/ledger"
	"github.com/custody-ir/custody/internal/testaws"
)

const (
	iamAccount    = "123456789012" // moto's account: the forensics and the member account alike
	iamRegion     = "us-east-1"
	iamExternalID = "custody-ext-7f3a"
	collectorRole = "custody-collector"
	agentUser     = "custody-agent"
)

// placeholder is a template word of configs/iam/*.json (see its README).
var placeholder = regexp.MustCompile(`\b[A-Z][A-Z0-9_]*[A-Z0-9]\b`)

// shippedPolicy reads configs/iam/name with its placeholders replaced, as
// an operator fills them in; any placeholder left unfilled fails the test.
func shippedPolicy(t *testing.T, name string, values map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "configs", "iam", name))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range placeholder.FindAllString(string(b), -1) {
		if _, ok := values[w]; !ok && w != "AWS" { // {"Principal": {"AWS": ...}}
			t.Fatalf("%s: no value for the placeholder %s", name, w)
		}
	}
	doc := placeholder.ReplaceAllStringFunc(string(b), func(w string) string {
		if v, ok := values[w]; ok {
			return v
		}
		return w
	})
	var parsed struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(doc), &parsed); err != nil || len(parsed.Statement) == 0 {
		t.Fatalf("%s: %v", name, err)
	}
	return doc
}

// withoutAction returns the policy with action taken out of every Allow
// statement (a statement left with no action goes).
func withoutAction(t *testing.T, doc, action string) string {
	t.Helper()
	var p struct {
		Version   string
		Statement []map[string]any
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	var kept []map[string]any
	found := false
	for _, st := range p.Statement {
		var actions []any
		switch a := st["Action"].(type) {
		case string:
			actions = []any{a}
		case []any:
			actions = a
		}
		var rest []any
		for _, a := range actions {
			if a == action && st["Effect"] == "Allow" {
				found = true
				continue
			}
			rest = append(rest, a)
		}
		if len(rest) > 0 {
			st["Action"] = rest
			kept = append(kept, st)
		}
	}
	if !found {
		t.Fatalf("the policy does not grant %s", action)
	}
	p.Statement = kept
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// iamFixture is a moto account set up as a member account being
// collected from and the forensics account collecting, each identity with
// the shipped policy that applies to it.
type iamFixture struct {
	admin                        *iam.Client // changes policies once IAM is enforced
	agent                        awsclient.Config
	collectorPolicy, agentPolicy string
	cfg                          config.Config
	monitored                    string
	logBucket                    string // [access logs]
	keyID                        string
	trailStart                   time.Time
	trailKeys                    []cloudtrail.PublicKey

	store  *custody.Store
	minio  *s3.Client
	starts int
}

func newIAMFixture(t *testing.T) *iamFixture {
	t.Helper()
	ctx := context.Background()
	le := testaws.Require(t) // the evidence store: MinIO, with its root credentials
	m := testaws.StartMoto(t)
	f := &iamFixture{minio: le.S3(t)}
	setup := m.Anonymous(t) // before Enforce, moto takes any credentials
	src := setup.S3()

	// The member account's sources, in moto's S3.
	f.monitored = "customer-data"
	trailBucket, delivery := "org-trail-logs", "config-deliveries"
	for _, b := range []string{f.monitored, trailBucket, delivery} {
		if _, err := src.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	mustDo(t, "versioning", func() error {
		_, err := src.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(f.monitored),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
		return err
	})
	mustDo(t, "bucket policy", func() error {
		_, err := src.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(f.monitored), Policy: aws.String(fmt.Sprintf(
			`{"Version":"2012-10-17","Statement":[{"Sid":"KeepTheBucket","Effect":"Deny","Principal":"*","Action":"s3:DeleteBucket","Resource":"arn:aws:s3:::%s"}]}`,
			f.monitored))})
		return err
	})
	mustDo(t, "public access block", func() error {
		_, err := src.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: aws.String(f.monitored), PublicAccessBlockConfiguration: &s3types.PublicAccessBlockConfiguration{
			BlockPublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), IgnorePublicAcls: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}})
		return err
	})
	mustDo(t, "encryption", func() error {
		_, err := src.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(f.monitored), ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{
			Rules: []s3types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{SSEAlgorithm: s3types.ServerSideEncryptionAes256}}}}})
		return err
	})
	mustDo(t, "tags", func() error {
		_, err := src.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(f.monitored), Tagging: &s3types.Tagging{
			TagSet: []s3types.Tag{{Key: aws.String("data-class"), Value: aws.String("confidential")}}}})
		return err
	})
	for i, k := range []string{"orders/2024/a.json", "orders/2024/a.json", "orders/b.json", "readme.txt"} {
		mustDo(t, "put "+k, func() error {
			_, err := src.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.monitored), Key: aws.String(k), Body: strings.NewReader(fmt.Sprint(i))})
			return err
		})
	}
	mustDo(t, "delete marker", func() error {
		_, err := src.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.monitored), Key: aws.String("orders/b.json")})
		return err
	})

	// GuardDuty with a finding, Security Hub not enabled: the detector
	// findings collector reads GuardDuty.
	det, err := guardduty.NewFromConfig(setup.AWS).CreateDetector(ctx, &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	putGuardDutyFindings(t, m.Endpoint, iamAccount, iamRegion, aws.ToString(det.DetectorId), []map[string]any{gdFinding("enforced", time.Now().Add(-time.Hour), 2, f.monitored)})

	// An organization trail delivering to its bucket, and Config's deliveries.
	org := organizations.NewFromConfig(setup.AWS)
	o, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		t.Fatal(err)
	}
	orgID := aws.ToString(o.Organization.Id)
	trailAPI := ct.NewFromConfig(setup.AWS)
	if _, err := trailAPI.CreateTrail(ctx, &ct.CreateTrailInput{Name: aws.String("org-trail"), S3BucketName: aws.String(trailBucket),
		S3KeyPrefix: aws.String("ct"), IsMultiRegionTrail: aws.Bool(true), IsOrganizationTrail: aws.Bool(true), EnableLogFileValidation: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	// Logging, with the monitored bucket's data events: a trail with
	// nothing to report, so that all granted, no finding is expected.
	mustDo(t, "start logging", func() error {
		_, err := trailAPI.StartLogging(ctx, &ct.StartLoggingInput{Name: aws.String("org-trail")})
		return err
	})
	mustDo(t, "event selectors", func() error {
		_, err := trailAPI.PutEventSelectors(ctx, &ct.PutEventSelectorsInput{TrailName: aws.String("org-trail"), AdvancedEventSelectors: []cttypes.AdvancedEventSelector{
			{Name: aws.String("management"), FieldSelectors: []cttypes.AdvancedFieldSelector{{Field: aws.String("eventCategory"), Equals: []string{"Management"}}}},
			{Name: aws.String("data"), FieldSelectors: []cttypes.AdvancedFieldSelector{{Field: aws.String("eventCategory"), Equals: []string{"Data"}},
				{Field: aws.String("resources.type"), Equals: []string{"AWS::S3::Object"}},
				{Field: aws.String("resources.ARN"), StartsWith: []string{"arn:aws:s3:::" + f.monitored + "/"}}}}}})
		return err
	})
	f.trailStart = time.Now().UTC().Truncate(time.Hour).Add(-5 * time.Hour)
	w, err := cttest.Write(ctx, src, cttest.Trail{Bucket: trailBucket, Prefix: "ct", OrgID: orgID, Account: iamAccount, Region: iamRegion,
		Name: "org-trail", Start: f.trailStart, Hours: 5, LogsPerHour: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.trailKeys = w.Keys
	if _, err := cttest.ConfigDelivery(ctx, src, delivery, "config", iamAccount, iamRegion, time.Now().UTC().Add(-24*time.Hour), 2); err != nil {
		t.Fatal(err)
	}

	// [access logs fixture] The monitored bucket's server access logs,
	// and VPC flow logs, in one log bucket.
	f.logBucket = "server-access-logs"
	mustDo(t, "log bucket", func() error {
		_, err := src.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(f.logBucket)})
		return err
	})
	mustDo(t, "log delivery grant", func() error {
		_, err := src.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String(f.logBucket), GrantWrite: aws.String(`uri="http://acs.amazonaws.com/groups/s3/LogDelivery"`), GrantReadACP: aws.String(`uri="http://acs.amazonaws.com/groups/s3/LogDelivery"`)})
		return err
	})
	mustDo(t, "bucket logging", func() error {
		_, err := src.PutBucketLogging(ctx, &s3.PutBucketLoggingInput{Bucket: aws.String(f.monitored), BucketLoggingStatus: &s3types.BucketLoggingStatus{
			LoggingEnabled: &s3types.LoggingEnabled{TargetBucket: aws.String(f.logBucket), TargetPrefix: aws.String("s3/")}}})
		return err
	})
	mustDo(t, "access logs", func() error {
		_, err := altest.Write(ctx, src, altest.Delivery{TargetBucket: f.logBucket, TargetPrefix: "s3/", Source: f.monitored, Account: iamAccount, Region: iamRegion,
			Start: time.Now().UTC().Add(-2 * time.Hour), Objects: 3, RecordsPerObject: 5}, 2)
		return err
	})
	mustDo(t, "flow logs", func() error {
		_, err := src.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.logBucket), Key: aws.String("flow/2026/11/29/fl-1.log.gz"), Body: strings.NewReader("x")})
		return err
	})

	// The forensics account's signing key.
	key, err := kms.NewFromConfig(setup.AWS).CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	f.keyID = aws.ToString(key.KeyMetadata.KeyId)
	// A data key of the member account, named in the configuration: the
	// kms collector reads its policy, grants and rotation.
	dataKey, err := kms.NewFromConfig(setup.AWS).CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("customer data")})
	if err != nil {
		t.Fatal(err)
	}

	// The identities, with the shipped policies filled in.
	st := config.Store{Bucket: testaws.BucketName(t), Prefix: "custody", Retention: config.Retention{Mode: config.ModeCompliance, Days: 1}}
	values := map[string]string{
		"FORENSICS_ACCOUNT": iamAccount, "REGION": iamRegion, "SIGNING_KEY_ID": f.keyID, "EVIDENCE_BUCKET": st.Bucket,
		"MONITORED_BUCKET": f.monitored, "TRAIL_BUCKET": trailBucket, "CONFIG_BUCKET": delivery, "EXTERNAL_ID": iamExternalID,
		"MONITORED_ACCOUNT_ID": iamAccount, "INVENTORY_BUCKET": "inventory-reports", // no inventory read here: iam_calls_test.go reads one
		"WITNESS_BUCKET": "witness-bucket", // no witness configured here: iam_calls_test.go writes to one
		"LOG_BUCKET":     f.logBucket,
	}
	f.collectorPolicy = shippedPolicy(t, "collector-role-policy.json", values)
	f.agentPolicy = shippedPolicy(t, "agent-role-policy.json", values)
	trust := shippedPolicy(t, "collector-role-trust.json", values)
	// moto compares a trust policy's principal with the caller's ARN as
	// written, where AWS matches every session of the role named: the
	// agent here is a user, so the principal names it.
	trust = strings.ReplaceAll(trust, "arn:aws:iam::"+iamAccount+":role/custody-agent", "arn:aws:iam::"+iamAccount+":user/"+agentUser)

	ic := iam.NewFromConfig(setup.AWS)
	if _, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(collectorRole), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(collectorRole), PolicyName: aws.String(collectorRole), PolicyDocument: aws.String(f.collectorPolicy)}); err != nil {
		t.Fatal(err)
	}
	agentKey := newIAMUser(t, ic, agentUser, f.agentPolicy)
	adminKey := newIAMUser(t, ic, "admin", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)

	m.Enforce(t)
	if _, err := setup.S3().GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(f.monitored)}); err == nil {
		t.Fatal("IAM is not enforced: a request with unknown credentials succeeded")
	}
	f.admin = iam.NewFromConfig(m.Config(t, adminKey[0], adminKey[1]).AWS)
	f.agent = m.Config(t, agentKey[0], agentKey[1])

	// The agent's environment: sigstore's KMS provider reads it, as it
	// does in the agent, and signs as the agent in moto's KMS.
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": agentKey[0], "AWS_SECRET_ACCESS_KEY": agentKey[1], "AWS_SESSION_TOKEN": "", "AWS_REGION": iamRegion,
		"AWS_ENDPOINT_URL": m.Endpoint, "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(t.TempDir(), "none"),
	} {
		t.Setenv(k, v)
	}
	if _, err := custody.InitBucket(ctx, f.minio, st); err != nil {
		t.Fatal(err)
	}
	if f.store, err = custody.OpenStore(ctx, f.minio, st, time.Now); err != nil {
		t.Fatal(err)
	}
	f.cfg = config.Config{
		Agent: config.Agent{Stream: "iam-agent"},
		Store: st,
		Sources: config.Sources{Accounts: []config.Account{{
			ID: iamAccount, RoleARN: "arn:aws:iam::" + iamAccount + ":role/" + collectorRole, ExternalID: iamExternalID, Regions: []string{iamRegion},
			ConfigBuckets: []config.BucketPrefix{{Bucket: delivery, Prefix: "config"}}, DeliverConfigSnapshots: true, Buckets: []string{f.monitored},
			KMSKeys:    []string{aws.ToString(dataKey.KeyMetadata.Arn)},
			LogBuckets: []config.BucketPrefix{{Bucket: f.logBucket, Prefix: "flow/"}},
		}}},
		Schedules: config.Schedules{CloudTrail: "@hourly", Config: "@hourly", Posture: "@hourly", Versions: "@hourly", IAM: "@hourly", KMS: "@hourly", Findings: "@hourly", AccessLogs: "@hourly"},
	}
	return f
}

func mustDo(t *testing.T, what string, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// newIAMUser creates a user with an inline policy and returns its access key.
func newIAMUser(t *testing.T, ic *iam.Client, name, policy string) [2]string {
	t.Helper()
	ctx := context.Background()
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

// setPolicies replaces the collector role's and the agent's policies
// (IAM itself is enforced: the admin user does it).
func (f *iamFixture) setPolicies(t *testing.T, collectorPolicy, agentPolicy string) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.admin.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(collectorRole), PolicyName: aws.String(collectorRole), PolicyDocument: aws.String(collectorPolicy)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(agentUser), PolicyName: aws.String(agentUser), PolicyDocument: aws.String(agentPolicy)}); err != nil {
		t.Fatal(err)
	}
}

// iamAgent is one start of the agent.
type iamAgent struct {
	chain      *custody.Chain
	ledger     *ledger.Ledger
	collectors []Collector
}

// start does what a new agent does at start-up: open its KMS signing key
// and build its collectors. Each start has a ledger and a stream of its
// own, so every run collects everything the sources hold. The collectors
// are then adjusted for what moto lacks: CloudTrail's ListPublicKeys (the
// trail's keys come from the fixture) and decodable IAM configuration
// items (Config's history is read for buckets only).
func (f *iamFixture) start(t *testing.T) (*iamAgent, error) {
	t.Helper()
	ctx := context.Background()
	f.starts++
	l, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	signer, err := custody.LoadSigner(ctx, config.Signer{Key: "awskms:///" + f.keyID}, os.Getenv)
	if err != nil {
		return nil, err
	}
	chain, err := custody.NewChain(f.store, f.minio, l, signer, fmt.Sprintf("%s-%d", f.cfg.Agent.Stream, f.starts), custody.Who{Host: "test"}, time.Now)
	if err != nil {
		return nil, err
	}
	cs, err := discoverAll(ctx, f.agent, f.cfg, l)
	if err != nil {
		return nil, err
	}
	// The quick collectors first: a sweep step stops at the first that
	// names what it lacks.
	order := map[string]int{"posture": 0, "versions": 1, "iam": 2, "kms": 2, "config": 2, "cloudtrail": 3}
	sort.SliceStable(cs, func(i, j int) bool { return order[cs[i].Kind()] < order[cs[j].Kind()] })
	for _, c := range cs {
		switch c := c.(type) {
		case *CloudTrail:
			c.Keys = func(context.Context, time.Time, time.Time) ([]cloudtrail.PublicKey, error) { return f.trailKeys, nil }
			c.Lookback = time.Since(f.trailStart)
		case *AWSConfig:
			c.ResourceTypes = []string{"AWS::S3::Bucket"}
			c.Lookback = 72 * time.Hour
		}
	}
	return &iamAgent{chain: chain, ledger: l, collectors: cs}, nil
}

// sealed returns the manifest a run sealed (its findings, its subjects).
func (f *iamFixture) sealed(t *testing.T, a *iamAgent, res Result) custody.Statement {
	t.Helper()
	out, err := f.minio.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(f.cfg.Store.Bucket),
		Key: aws.String(custody.ManifestKey(f.cfg.Store.Prefix, a.chain.Stream(), res.Manifest))})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	env, err := custody.ParseEnvelope(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	st, err := env.Statement()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestShippedPoliciesUnderIAMEnforcement(t *testing.T) {
	// Not parallel: the KMS signer reads credentials from the environment.
	ctx := context.Background()
	f := newIAMFixture(t)

	t.Run("all granted", func(t *testing.T) {
		a, err := f.start(t)
		if err != nil {
			t.Fatalf("starting with the shipped policies: %v", err)
		}
		kinds := map[string]int{}
		for _, c := range a.collectors {
			kinds[c.Kind()]++
		}
		if kinds["posture"] != 1 || kinds["versions"] != 1 || kinds["config"] != 1 || kinds["cloudtrail"] != 1 || kinds["iam"] != 1 || kinds["kms"] != 1 {
			t.Fatalf("collectors built: %v", kinds)
		}
		for _, c := range a.collectors {
			res, err := RunOne(ctx, a.chain, c)
			if err != nil {
				t.Errorf("%s with the shipped policies: %v", c.Name(), err)
				continue
			}
			st := f.sealed(t, a, res)
			for _, fd := range st.Predicate.Findings {
				t.Errorf("%s with the shipped policies: %v", c.Name(), fd)
			}
			if res.Artifacts == 0 {
				t.Errorf("%s stored nothing", c.Name())
			}
			if c.Kind() == "posture" {
				var snap Snapshot
				for _, s := range st.Subject {
					snap = Snapshot{}
					out, err := f.minio.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.cfg.Store.Bucket), Key: aws.String(s.Name)})
					if err != nil {
						t.Fatal(err)
					}
					err = json.NewDecoder(out.Body).Decode(&snap)
					out.Body.Close()
					if err != nil {
						t.Fatal(err)
					}
				}
				for _, name := range []string{"policy", "publicAccessBlock", "versioning", "encryption", "tags", "location"} {
					if snap.Settings[name].State != StatePresent {
						t.Errorf("posture %s: %+v", name, snap.Settings[name])
					}
				}
			}
		}
		// Everything sealed verifies against the KMS key.
		signer, err := custody.LoadSigner(ctx, config.Signer{Key: "awskms:///" + f.keyID}, os.Getenv)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := signer.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		tk, err := custody.NewTrustedKey("kms", pub, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := custody.NewVerifier(f.minio, f.cfg.Store, []custody.TrustedKey{tk}, a.ledger, time.Now).Verify(ctx, custody.VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range r.Findings {
			if fd.Severity == custody.SeverityFailure {
				t.Errorf("verify: %v", fd)
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("trust policy", func(t *testing.T) {
		// The collector role's trust policy holds the agent to its external ID.
		wrong := f.agent.AssumeRole(f.cfg.Sources.Accounts[0].RoleARN, "not-"+iamExternalID, awsclient.SessionName("collect", "x"))
		_, err := wrong.S3().GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(f.monitored)})
		if got := awsclient.Permission(err); got != "sts:AssumeRole" {
			t.Fatalf("assuming the collector role with a wrong external ID: %v (permission %q)", err, got)
		}
	})

	// Every permission the shipped policies grant for what moto serves,
	// taken away in turn: nothing crashes, and what the agent reports
	// names the permission (an excess permission would go unnoticed and
	// fail here). Some say where: a finding of a kind in the sealed
	// manifest, the run's error, or the error of starting the agent.
	type where struct {
		finding       custody.Kind
		runErr, start bool
	}
	expected := map[string]where{
		"s3:GetBucketPolicy":                 {finding: "posture-access-denied"},
		"s3:GetBucketPublicAccessBlock":      {finding: "posture-access-denied"},
		"s3:GetAccountPublicAccessBlock":     {finding: "posture-access-denied"},
		"s3:ListBucketVersions":              {runErr: true},
		"config:GetResourceConfigHistory":    {finding: "config-history-unreadable"},
		"config:ListDiscoveredResources":     {finding: "config-unreadable"},
		"config:DescribeDeliveryChannels":    {finding: "config-deliver-failed"},
		"cloudtrail:DescribeTrails":          {start: true},
		"cloudtrail:GetTrailStatus":          {finding: "cloudtrail-status-unreadable"},
		"cloudtrail:GetEventSelectors":       {finding: "cloudtrail-status-unreadable"},
		"organizations:DescribeOrganization": {start: true},
		"sts:AssumeRole":                     {start: true},
		"kms:Sign":                           {runErr: true},
		"kms:GetPublicKey":                   {start: true},
		"kms:DescribeKey":                    {start: true},
		"securityhub:GetFindings":            {finding: "detector-unreadable"},
		"guardduty:ListDetectors":            {finding: "detector-unreadable"},
		"guardduty:ListFindings":             {finding: "detector-unreadable"},
		"guardduty:GetFindings":              {finding: "detector-unreadable"},
	}
	// The collector role's own expectations, where the agent's differ.
	collectorExpected := map[string]where{
		"iam:GetAccountAuthorizationDetails": {runErr: true},
		"iam:GenerateCredentialReport":       {finding: "iam-unreadable"},
		"iam:GetCredentialReport":            {finding: "iam-unreadable"},
		"iam:ListAccessKeys":                 {finding: "iam-unreadable"},
		"iam:GetAccessKeyLastUsed":           {finding: "iam-unreadable"},
		"kms:DescribeKey":                    {finding: "kms-key-unreadable"},
		"kms:GetKeyPolicy":                   {finding: "kms-key-unreadable"},
		"kms:ListGrants":                     {finding: "kms-key-unreadable"},
		"kms:GetKeyRotationStatus":           {finding: "kms-key-unreadable"},
	}
	notServed := map[string]string{
		"cloudtrail:ListPublicKeys":    "moto 5.2.1 has no ListPublicKeys: the trail's keys come from the fixture",
		"config:DeliverConfigSnapshot": "moto 5.2.1 has no DeliverConfigSnapshot (nor a delivery channel to name)",
	}
	sweep := func(t *testing.T, policy string, agent bool) {
		for _, action := range allowed(t, policy) {
			if agent && !strings.HasPrefix(action, "sts:") && !strings.HasPrefix(action, "kms:") {
				continue // the evidence bucket is MinIO's, not moto's
			}
			if why, ok := notServed[action]; ok {
				t.Logf("without %s: not checked, %s", action, why)
				continue
			}
			t.Run("without "+action, func(t *testing.T) {
				collectorPolicy, agentPolicy := f.collectorPolicy, f.agentPolicy
				if agent {
					agentPolicy = withoutAction(t, agentPolicy, action)
				} else {
					collectorPolicy = withoutAction(t, collectorPolicy, action)
				}
				f.setPolicies(t, collectorPolicy, agentPolicy)
				defer f.setPolicies(t, f.collectorPolicy, f.agentPolicy)
				want, specific := expected[action]
				if w, ok := collectorExpected[action]; ok && !agent {
					want, specific = w, true
				}

				a, err := f.start(t)
				if err != nil {
					if !strings.Contains(err.Error(), action) || (specific && !want.start) {
						t.Fatalf("starting without %s: %v", action, err)
					}
					t.Logf("start: %v", err)
					return
				}
				if want.start {
					t.Fatalf("started without %s", action)
				}
				for _, c := range a.collectors {
					res, err := RunOne(ctx, a.chain, c)
					if err != nil && strings.Contains(err.Error(), action) {
						if specific && !want.runErr {
							t.Fatalf("%s failed: %v", c.Name(), err)
						}
						t.Logf("run error: %v", err)
						if res.Manifest != 0 { // sealed, the failure recorded
							named := false
							for _, fd := range f.sealed(t, a, res).Predicate.Findings {
								named = named || (fd.Kind == "run-failed" && strings.Contains(fd.Message, action))
							}
							if !named {
								t.Errorf("the manifest of the failed run does not name %s", action)
							}
						}
						return
					}
					if err != nil {
						t.Fatalf("%s failed, not naming %s: %v", c.Name(), action, err)
					}
					for _, fd := range f.sealed(t, a, res).Predicate.Findings {
						if !strings.Contains(fd.Message+" "+fd.Remedy, action) {
							continue
						}
						if specific && fd.Kind != want.finding {
							t.Fatalf("%s named in a %s finding: %v", action, fd.Kind, fd)
						}
						t.Logf("finding: %v", fd)
						return
					}
				}
				t.Fatalf("nothing names %s: the shipped policy grants it, yet nothing needs it", action)
			})
		}
	}
	t.Run("collector role", func(t *testing.T) { sweep(t, f.collectorPolicy, false) })
	t.Run("agent", func(t *testing.T) { sweep(t, f.agentPolicy, true) })
	for action := range collectorExpected {
		expected[action] = collectorExpected[action]
	}
	for action := range expected {
		if !strings.Contains(f.collectorPolicy+f.agentPolicy, `"`+action+`"`) {
			t.Errorf("%s is expected to be needed, but no shipped policy grants it", action)
		}
	}
}

// allowed lists the actions a policy allows, each once, in order.
func allowed(t *testing.T, doc string) []string {
	t.Helper()
	var p struct{ Statement []map[string]any }
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		t.Fatal(err)
	}
	var out []string
	seen := map[string]bool{}
	for _, st := range p.Statement {
		if st["Effect"] != "Allow" {
			continue
		}
		var actions []any
		switch a := st["Action"].(type) {
		case string:
			actions = []any{a}
		case []any:
			actions = a
		}
		for _, a := range actions {
			if s := a.(string); !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// discoverAll makes every collector the configuration describes and runs
// their discovery, failing when one fails: the sweep grants permissions
// one at a time, and a discovery that lacks one names it here.
func discoverAll(ctx context.Context, base awsclient.Config, cfg config.Config, l *ledger.Ledger) ([]Collector, error) {
	out := Discover(ctx, Plan(ctx, base, cfg, l, time.Now, ""))
	var errs []error
	for _, c := range out {
		if f, ok := c.(*Failed); ok {
			errs = append(errs, f.Err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
