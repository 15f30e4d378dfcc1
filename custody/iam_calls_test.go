package custody_test

// The shipped policies against what the code calls: the binaries run each
// role's job against the stand-ins with CUSTODY_AWS_CALL_LOG set, and every
// policy in configs/iam must allow every call its role made (no less), and
// every action on every resource it allows must have been needed by some
// call (no more), bar the few listed in notExercised.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // S3 Inventory names its files' MD5
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ct "github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cs "github.com/aws/aws-sdk-go-v2/service/configservice"
	cstypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/guardduty"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/custody-ir/custody/collector/accesslog/altest"
	"github.com/custody-ir/custody/collector/cloudtrail/cttest"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/testaws"
)

// The roles, each with the shipped policy it is given.
var rolePolicies = map[string]string{
	"admin":     "custody-store-admin-policy.json", // custody store init
	"agent":     "agent-role-policy.json",          // custody agent, custody collect
	"writer":    "custody-writer-policy.json",      // custody add, export, recover --config's custody event
	"verifier":  "custody-verifier-policy.json",    // custody verify
	"collector": "collector-role-policy.json",      // the collectors, in the member account
	"recover":   "recover-policy.json",             // recover, on the bucket and its replica
	"contain":   "contain-policy.json",             // [contain] custody contain key, contain role
}

// notExercised are the grants the jobs below cannot show a need for on
// the stand-ins, each with the reason it is granted all the same.
var notExercised = map[[2]string]string{
	{"agent", "kms:Sign"}:                  "signing goes through sigstore's awskms provider, whose AWS client is its own, outside the call log; collector/iam_enforce_test.go takes each KMS action away from the agent under moto's IAM enforcement",
	{"agent", "kms:GetPublicKey"}:          "as kms:Sign",
	{"agent", "kms:DescribeKey"}:           "as kms:Sign",
	{"writer", "kms:Sign"}:                 "as the agent's kms:Sign",
	{"writer", "kms:GetPublicKey"}:         "as the agent's kms:Sign",
	{"writer", "kms:DescribeKey"}:          "as the agent's kms:Sign",
	{"verifier", "kms:GetPublicKey"}:       "verify reads an awskms:// trusted key through sigstore's provider, outside the call log",
	{"agent", "s3:AbortMultipartUpload"}:   "only after a multipart upload (an artifact over the part size) fails part-way",
	{"writer", "s3:AbortMultipartUpload"}:  "as the agent's",
	{"recover", "s3:AbortMultipartUpload"}: "only after a multipart copy (a version over 5 GiB) fails part-way",
	{"agent", "s3:ListBucketVersions"}:     "a run that ended before sealing (a crash) is resealed from what it left in the bucket (custody/run.go locate): the reliability suite's kills exercise it",
	{"agent", "s3:GetObjectVersion"}:       "as s3:ListBucketVersions: reading back what a crashed run left, and its metadata",
	{"agent", "s3:GetObjectRetention"}:     "as s3:ListBucketVersions: S3 returns a version's retention (which the reseal records) only to callers with it",
	{"contain", "s3:GetObjectLegalHold"}:   "freeze --hold-versions: moto applies a bucket policy's deny to object PUTs without the caller's identity, so it refuses the holds freeze places after its deny even to the allowed caller; contain/freeze_test.go and cmd/custody/freeze_test.go place and lift them on MinIO",
	{"contain", "s3:PutObjectLegalHold"}:   "as s3:GetObjectLegalHold",
	{"recover", "s3:ListBucket"}:           "a HEAD of a key with no current version answers 404 only to callers with s3:ListBucket (403 otherwise), and recover tells the two apart (recover/apply.go)",
}

// noPermission are calls IAM lets anyone make.
var noPermission = map[string]bool{"sts:GetCallerIdentity": true}

// readsLockHeaders are, for each role, the calls whose answer its code
// reads an object's retention and legal hold from; S3 includes them only
// for callers with s3:GetObjectRetention and s3:GetObjectLegalHold. verify
// checks them on what GetObject returns (export verifies first); recover
// copies them back from what HeadObject returns.
var readsLockHeaders = map[string]string{"verifier": "GetObject", "writer": "GetObject", "recover": "HeadObject"}

const (
	callsAccount = "123456789012"
	callsRegion  = "us-east-1"
	callsExtID   = "custody-calls-ext"
	callsStream  = "iam-calls"
)

// job is one run of a binary: the calls it logs on the evidence bucket are
// made as evidenceRole, sts:AssumeRole as the agent, the rest as sourceRole.
type job struct {
	name                     string
	evidenceRole, sourceRole string
	log                      string
	evidence                 string // the evidence bucket, when not the fixture's
}

type callsFixture struct {
	t                *testing.T
	dir              string
	custody, recover string   // the binaries
	env              []string // every run's environment
	evidence         string   // the evidence bucket, on MinIO
	motoEvidence     string   // another, made by store init on moto's S3
	jobs             []*job
	values           map[string][]string // the policies' placeholders
	e                testaws.Env
	motoEndpoint     string // the member account's moto
	keyServer        string // CloudTrail's ListPublicKeys, which moto lacks
	trail, delivery  string // the trail's and Config's buckets
	listed           string // a monitored bucket whose versions are listed
	monitored        string // one whose versions come from its S3 Inventory reports
	invBkt           string // where those reports are
	logBkt           string // [access logs] server access logs and flow logs
	witness          string // the witness bucket, on the replica MinIO
}

func TestPoliciesGrantWhatTheCodeCalls(t *testing.T) {
	start := time.Now()
	f := newCallsFixture(t)
	defer func() { t.Logf("%s", time.Since(start).Round(time.Second)) }()

	f.custodyJobs()
	f.organizationJob()
	f.recoverJobs()
	f.containJobs() // [contain]
	f.freezeJobs()
	// verify last, with every kind of manifest in the bucket.
	verifier := f.newJob("verify", "verifier", "")
	if out, code := f.run(verifier, nil, f.custody, "verify"); code != 0 {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
	if out, code := f.run(verifier, nil, f.custody, "store", "check"); code != 0 {
		t.Fatalf("store check: exit %d\n%s", code, out)
	}
	f.check()
}

func newCallsFixture(t *testing.T) *callsFixture {
	t.Helper()
	ctx := context.Background()
	e := testaws.Require(t)
	m := testaws.StartMoto(t) // the member account's sources; IAM not enforced
	f := &callsFixture{t: t, dir: t.TempDir(), e: e, motoEndpoint: m.Endpoint, evidence: testaws.BucketName(t), motoEvidence: testaws.BucketName(t)}
	f.custody, f.recover = filepath.Join(f.dir, "custody"), filepath.Join(f.dir, "recover")
	for bin, pkg := range map[string]string{f.custody: "../cmd/custody", f.recover: "../cmd/recover"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, out)
		}
	}
	f.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + f.dir, "TMPDIR=" + os.TempDir(), "CUSTODY_KEY_PASSPHRASE=calls",
		"AWS_ACCESS_KEY_ID=" + e.AccessKey, "AWS_SECRET_ACCESS_KEY=" + e.SecretKey, "AWS_REGION=" + callsRegion,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + filepath.Join(f.dir, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(f.dir, "none"),
		"AWS_MAX_ATTEMPTS=2", "AWS_ENDPOINT_URL=" + m.Endpoint, "AWS_ENDPOINT_URL_S3=" + m.Endpoint}

	// The member account, in moto: a trail of an organization, Config's
	// deliveries and its delivery channel, two monitored buckets (one read
	// from its S3 Inventory reports).
	setup := m.Anonymous(t)
	src := setup.S3()
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)
	f.trail, f.delivery, f.monitored, f.listed, f.invBkt = "calls-trail-"+suffix, "calls-config-"+suffix, "calls-inv-src-"+suffix, "calls-data-"+suffix, "calls-inventory-"+suffix
	for _, b := range []string{f.trail, f.delivery, f.monitored, f.listed, f.invBkt} {
		if _, err := src.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []string{f.monitored, f.listed} {
		if _, err := src.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
			t.Fatal(err)
		}
		if _, err := src.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("orders/1.json"), Body: strings.NewReader("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	invPrefix := writeCallsInventory(t, src, f.monitored, f.invBkt)
	// [access logs] f.listed logs to f.logBkt, which holds flow logs too.
	f.logBkt = "calls-logs-" + suffix
	if _, err := src.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(f.logBkt)}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String(f.logBkt), // S3's log delivery writes there
		GrantWrite: aws.String(`uri="http://acs.amazonaws.com/groups/s3/LogDelivery"`), GrantReadACP: aws.String(`uri="http://acs.amazonaws.com/groups/s3/LogDelivery"`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.PutBucketLogging(ctx, &s3.PutBucketLoggingInput{Bucket: aws.String(f.listed), BucketLoggingStatus: &s3types.BucketLoggingStatus{
		LoggingEnabled: &s3types.LoggingEnabled{TargetBucket: aws.String(f.logBkt), TargetPrefix: aws.String("s3/")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := altest.Write(ctx, src, altest.Delivery{TargetBucket: f.logBkt, TargetPrefix: "s3/", Source: f.listed, Account: callsAccount, Region: callsRegion,
		Start: time.Now().UTC().Add(-time.Hour), Objects: 2, RecordsPerObject: 3}, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := src.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.logBkt), Key: aws.String("flow/2026/11/29/fl.log.gz"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	org, err := organizations.NewFromConfig(setup.AWS).CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ct.NewFromConfig(setup.AWS).CreateTrail(ctx, &ct.CreateTrailInput{Name: aws.String("org-trail"), S3BucketName: aws.String(f.trail),
		IsMultiRegionTrail: aws.Bool(true), IsOrganizationTrail: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	w, err := cttest.Write(ctx, src, cttest.Trail{Bucket: f.trail, OrgID: aws.ToString(org.Organization.Id), Account: callsAccount, Region: callsRegion,
		Name: "org-trail", Start: time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour), Hours: 2, LogsPerHour: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.keyServer = cttest.KeyServerTo(t, w.Keys, m.Endpoint) // other CloudTrail calls go on to the member account's moto
	if _, err := cttest.ConfigDelivery(ctx, src, f.delivery, "", callsAccount, callsRegion, time.Now().UTC().Add(-24*time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	cfgAPI := cs.NewFromConfig(setup.AWS)
	if _, err := cfgAPI.PutConfigurationRecorder(ctx, &cs.PutConfigurationRecorderInput{ConfigurationRecorder: &cstypes.ConfigurationRecorder{
		Name: aws.String("default"), RoleARN: aws.String("arn:aws:iam::" + callsAccount + ":role/config")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cfgAPI.PutDeliveryChannel(ctx, &cs.PutDeliveryChannelInput{DeliveryChannel: &cstypes.DeliveryChannel{
		Name: aws.String("default"), S3BucketName: aws.String(f.delivery)}}); err != nil {
		t.Fatal(err)
	}

	// A user with an access key (the iam collector lists its keys and their
	// last use) and a KMS key a monitored bucket encrypts with, named by
	// its alias (the kms collector resolves it and reads the key).
	ic := iam.NewFromConfig(setup.AWS)
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("calls-user")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("calls-user")}); err != nil {
		t.Fatal(err)
	}
	kc := kms.NewFromConfig(setup.AWS)
	dataKey, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("calls data key")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/calls-data"), TargetKeyId: dataKey.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(f.listed), ServerSideEncryptionConfiguration: &s3types.ServerSideEncryptionConfiguration{
		Rules: []s3types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &s3types.ServerSideEncryptionByDefault{
			SSEAlgorithm: s3types.ServerSideEncryptionAwsKms, KMSMasterKeyID: aws.String("alias/calls-data")}}}}}); err != nil {
		t.Fatal(err)
	}
	// GuardDuty with a finding, Security Hub not enabled: the detector
	// findings collector falls back to GuardDuty (every action it has).
	putCallsGuardDutyFinding(t, setup, m.Endpoint)

	// The configuration every custody job shares: the evidence bucket on
	// MinIO (store.endpoint), the sources in moto through the collector role.
	if out, code := f.run(nil, nil, f.custody, "keygen", "--out", filepath.Join(f.dir, "k.pem")); code != 0 {
		t.Fatalf("keygen: exit %d\n%s", code, out)
	}
	if out, code := f.run(nil, nil, f.custody, "keygen", "--ed25519", "--out", filepath.Join(f.dir, "w.pem")); code != 0 {
		t.Fatalf("keygen --ed25519: exit %d\n%s", code, out)
	}
	f.witness = testaws.CreateBucket(t, e.ReplicaS3(t), testaws.BucketOptions{ObjectLock: true, Mode: s3types.ObjectLockRetentionModeGovernance, Days: 1})
	orgID := aws.ToString(org.Organization.Id)
	all := `{cloudtrail: "@hourly", config: "@hourly", posture: "@hourly", versions: "@hourly", iam: "@hourly", kms: "@hourly", jitter: 0s}`
	f.writeConfig("custody.yaml", "", all, invPrefix)
	f.writeConfig("trails.yaml", "trails: [{name: org-trail, home_region: "+callsRegion+", bucket: "+f.trail+", org_id: "+orgID+"}]", all, invPrefix)
	f.writeConfig("agent.yaml", "", `{posture: "@every 1s", versions: "@every 1s", cloudtrail: "", config: "", jitter: 0s}`, invPrefix)

	f.values = map[string][]string{
		"EVIDENCE_BUCKET": {f.evidence, f.motoEvidence}, "FORENSICS_ACCOUNT": {callsAccount}, "REGION": {callsRegion}, "SIGNING_KEY_ID": {"calls-key"},
		"MONITORED_ACCOUNT_ID": {callsAccount}, "EXTERNAL_ID": {callsExtID}, "BREAK_GLASS_ROLE": {"break-glass"},
		"TRAIL_BUCKET": {f.trail}, "CONFIG_BUCKET": {f.delivery}, "MONITORED_BUCKET": {f.listed, f.monitored}, "INVENTORY_BUCKET": {f.invBkt},
		"WITNESS_BUCKET": {f.witness}, "LOG_BUCKET": {f.logBkt},
	}
	return f
}

// writeConfig writes a configuration file: the evidence bucket on MinIO
// (store.endpoint), the sources in moto through the collector role.
func (f *callsFixture) writeConfig(name, trails, schedules, invPrefix string) {
	f.t.Helper()
	cfg := fmt.Sprintf(`ledger: %[1]s/ledger.db
agent: {stream: %[2]s, listen: "127.0.0.1:0"}
store: {bucket: %[3]s, endpoint: "%[4]s", region: %[5]s, prefix: custody, retention: {mode: COMPLIANCE, days: 1}}
signer: {key: "file://%[1]s/k.pem"}
trust: [{name: calls, key: "file://%[1]s/k.pub"}]
sources:
  accounts:
    - id: "%[6]s"
      role_arn: arn:aws:iam::%[6]s:role/custody-collector
      external_id: %[7]s
      regions: [%[5]s]
      %[8]s
      config_buckets: [{bucket: %[9]s}]
      deliver_config_snapshots: true
      buckets: [%[10]s, %[11]s]
      inventories: [{bucket: %[11]s, report_bucket: %[12]s, report_prefix: "%[13]s"}]
      log_buckets: [{bucket: %[18]s, prefix: flow/}]
schedules: %[14]s
witnesses: [{name: calls.example/w1, bucket: %[15]s, region: %[16]s, endpoint: "%[17]s", key: "file://%[1]s/w.pem", public: "file://%[1]s/w.pub"}]
`, f.dir, callsStream, f.evidence, f.e.S3Endpoint, callsRegion, callsAccount, callsExtID, trails, f.delivery, f.listed, f.monitored, f.invBkt, invPrefix, schedules,
		f.witness, f.e.ReplicaRegion, f.e.ReplicaEndpoint, f.logBkt)
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(cfg), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *callsFixture) newJob(name, evidenceRole, sourceRole string) *job {
	j := &job{name: name, evidenceRole: evidenceRole, sourceRole: sourceRole, log: filepath.Join(f.dir, fmt.Sprintf("calls-%d.jsonl", len(f.jobs)))}
	f.jobs = append(f.jobs, j)
	return j
}

// command prepares a run of bin with the fixture's environment, then
// extra variables, logging its calls for j (when not nil).
func (f *callsFixture) command(j *job, extra []string, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append([]string{}, f.env...), "CUSTODY_CONFIG="+filepath.Join(f.dir, "custody.yaml"))
	if j != nil {
		cmd.Env = append(cmd.Env, awsclient.CallLogEnv+"="+j.log)
	}
	cmd.Env = append(cmd.Env, extra...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (f *callsFixture) run(j *job, extra []string, bin string, args ...string) (string, int) {
	f.t.Helper()
	out, err := f.command(j, extra, bin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		f.t.Fatalf("%s %v: %v", bin, args, err)
	}
	return string(out), 0
}

// custodyJobs: the store created, the collectors and the agent run, files
// added to a case and exported.
func (f *callsFixture) custodyJobs() {
	t := f.t
	if out, code := f.run(f.newJob("store init", "admin", ""), nil, f.custody, "store", "init", "--yes"); code != 0 {
		t.Fatalf("store init: exit %d\n%s", code, out)
	}
	// MinIO has no public access block, which store init then leaves
	// alone; moto's S3 has one.
	j := f.newJob("store init (moto)", "admin", "")
	j.evidence = f.motoEvidence
	if out, code := f.run(j, []string{"CUSTODY_STORE_ENDPOINT=" + f.motoEndpoint, "CUSTODY_STORE_BUCKET=" + j.evidence}, f.custody, "store", "init", "--yes"); code != 0 {
		t.Fatalf("store init on moto: exit %d\n%s", code, out)
	}
	// Every collector, the trails discovered in moto, which lacks
	// CloudTrail's ListPublicKeys: the CloudTrail collector fails there
	// (so the exit code is not checked), the others collect.
	out, _ := f.run(f.newJob("collect --once", "agent", "collector"), nil, f.custody, "collect", "--once")
	for _, want := range []string{"posture:" + f.listed, "versions:" + f.monitored, "config:", "iam:" + callsAccount, "kms:" + callsAccount + "/" + callsRegion, "accesslogs:"} {
		if !strings.Contains(out, want) {
			t.Errorf("collect --once did not run %s:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "findings:"+callsAccount+"/"+callsRegion) {
		t.Errorf("collect --once did not run the detector findings collector:\n%s", out)
	}
	// The trail named in the configuration, its keys from a stand-in.
	trails := []string{"CUSTODY_CONFIG=" + filepath.Join(f.dir, "trails.yaml"), "AWS_ENDPOINT_URL_CLOUDTRAIL=" + f.keyServer}
	if out, code := f.run(f.newJob("collect --once --collector cloudtrail", "agent", "collector"), trails, f.custody, "collect", "--once", "--collector", "cloudtrail"); code != 0 {
		t.Fatalf("collect --once --collector cloudtrail: exit %d\n%s", code, out)
	}
	f.runAgent(trails)

	notes := filepath.Join(f.dir, "notes.txt")
	if err := os.WriteFile(notes, []byte("14:02 key revoked"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := f.run(f.newJob("add", "writer", ""), nil, f.custody, "add", "--case", "IR-1", notes); code != 0 {
		t.Fatalf("add: exit %d\n%s", code, out)
	}
	if out, code := f.run(f.newJob("export", "writer", ""), nil, f.custody, "export", "--case", "IR-1", "--out", filepath.Join(f.dir, "IR-1.tar.gz")); code != 0 {
		t.Fatalf("export: exit %d\n%s", code, out)
	}
}

// runAgent runs custody agent until it has collected twice, then stops it
// as systemd does, with SIGTERM.
func (f *callsFixture) runAgent(extra []string) {
	t := f.t
	cmd := f.command(f.newJob("agent", "agent", "collector"), append(extra, "CUSTODY_CONFIG="+filepath.Join(f.dir, "agent.yaml"),
		"CUSTODY_AGENT_STREAM=iam-calls-agent"), f.custody, "agent")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	collected := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), `"msg":"collected"`) {
				if collected++; collected == 4 {
					_ = cmd.Process.Signal(syscall.SIGTERM) // it may have exited: Wait says how
				}
			}
		}
	}()
	timer := time.AfterFunc(45*time.Second, func() { _ = cmd.Process.Signal(syscall.SIGTERM) })
	defer timer.Stop()
	<-done
	if err := cmd.Wait(); err != nil || collected < 4 {
		t.Fatalf("agent: %v, %d collections\n%s", err, collected, logs.String())
	}
}

// recoverJobs: recover on an Object Lock bucket with a replica, sealing
// its custody event, and on an archived version (moto models Glacier).
func (f *callsFixture) recoverJobs() {
	t := f.t
	ctx := context.Background()
	c, rc := f.e.S3(t), f.e.ReplicaS3(t)
	bucket := testaws.CreateBucket(t, c, testaws.BucketOptions{ObjectLock: true})
	replica := testaws.CreateBucket(t, rc, testaws.BucketOptions{Versioning: true})
	put := func(c *s3.Client, in *s3.PutObjectInput) {
		t.Helper()
		if _, err := c.PutObject(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	until := time.Now().Add(2 * time.Hour)
	put(c, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("locked.txt"), Body: strings.NewReader("good"), Tagging: aws.String("class=secret"),
		ObjectLockMode: s3types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: &until, ObjectLockLegalHoldStatus: s3types.ObjectLockLegalHoldStatusOn})
	put(c, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("deleted.txt"), Body: strings.NewReader("keep")})
	put(rc, &s3.PutObjectInput{Bucket: aws.String(replica), Key: aws.String("purged.txt"), Body: strings.NewReader("replicated"), Tagging: aws.String("class=public")})
	target := testaws.Cut().Format(time.RFC3339Nano)
	put(c, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("locked.txt"), Body: strings.NewReader("ransomed")})
	put(c, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("new.txt"), Body: strings.NewReader("ransom note")})
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("deleted.txt")}); err != nil {
		t.Fatal(err)
	}
	f.values["BUCKET"], f.values["REPLICA_BUCKET"] = []string{bucket}, []string{replica}
	minio := []string{"AWS_ENDPOINT_URL_S3=" + f.e.S3Endpoint}
	out, code := f.run(f.newJob("recover", "writer", "recover"), minio, f.recover, "--bucket", bucket, "--since", target, "--yes", "--remove-new",
		"--config", filepath.Join(f.dir, "custody.yaml"), "--replica-bucket", replica, "--replica-endpoint", f.e.ReplicaEndpoint, "--replica-region", f.e.ReplicaRegion)
	if code != 0 || !strings.Contains(out, "1 restored from the replica") {
		t.Fatalf("recover: exit %d\n%s", code, out)
	}

	// An archived version, on the stand-ins' moto (whose S3 models Glacier).
	mc := s3.NewFromConfig(f.e.Config(t).AWS, func(o *s3.Options) { o.BaseEndpoint = aws.String(f.e.Endpoint); o.UsePathStyle = true })
	archive := testaws.BucketName(t)
	f.values["BUCKET"] = append(f.values["BUCKET"], archive)
	if _, err := mc.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(archive)}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(archive),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	put(mc, &s3.PutObjectInput{Bucket: aws.String(archive), Key: aws.String("2019.tar"), Body: strings.NewReader("old"), StorageClass: s3types.StorageClassGlacier})
	target = testaws.Cut().Format(time.RFC3339Nano)
	put(mc, &s3.PutObjectInput{Bucket: aws.String(archive), Key: aws.String("2019.tar"), Body: strings.NewReader("wiped")})
	moto := []string{"AWS_ENDPOINT_URL_S3=" + f.e.Endpoint, "AWS_ENDPOINT_URL=" + f.e.Endpoint}
	journal := filepath.Join(f.dir, "archive-journal.db")
	out, _ = f.run(f.newJob("recover (archived)", "", "recover"), moto, f.recover, "--bucket", archive, "--since", target, "--yes", "--ledger", journal)
	m := regexp.MustCompile(`job (recover-\S+)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "restore") {
		t.Fatalf("recover of an archived version: no job, or nothing restored\n%s", out)
	}
	for i := 0; ; i++ { // moto moves the restore along as it is asked
		out, code = f.run(f.newJob("recover --resume", "", "recover"), moto, f.recover, "--resume", m[1], "--yes", "--ledger", journal)
		if code == 0 {
			break
		}
		if i == 5 {
			t.Fatalf("recover --resume: exit %d\n%s", code, out)
		}
	}
}

// organizationJob collects the detector findings of every account of the
// organization (sources.organization): the management account, listed
// by hand too, and a member account created here, whose collector role
// the agent's policy then names (MONITORED_ACCOUNT_ID is every account).
func (f *callsFixture) organizationJob() {
	t := f.t
	setup := awsclient.Config{}
	var err error
	if setup, err = awsclient.Load(context.Background(), awsclient.Options{Region: callsRegion, Endpoint: f.motoEndpoint,
		Credentials: credentials.NewStaticCredentialsProvider("calls", "calls", "")}); err != nil {
		t.Fatal(err)
	}
	out, err := organizations.NewFromConfig(setup.AWS).CreateAccount(context.Background(), &organizations.CreateAccountInput{
		AccountName: aws.String("calls-member"), Email: aws.String("calls-member@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	member := aws.ToString(out.CreateAccountStatus.AccountId)
	f.values["MONITORED_ACCOUNT_ID"] = append(f.values["MONITORED_ACCOUNT_ID"], member)
	b, err := os.ReadFile(filepath.Join(f.dir, "custody.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	org := strings.Replace(string(b), "sources:\n", "sources:\n  organization: {role: custody-collector, external_id: "+callsExtID+", template: {regions: ["+callsRegion+"]}}\n", 1)
	if err := os.WriteFile(filepath.Join(f.dir, "org.yaml"), []byte(org), 0o600); err != nil {
		t.Fatal(err)
	}
	res, code := f.run(f.newJob("collect --once --collector findings (organization)", "agent", "collector"), []string{"CUSTODY_CONFIG=" + filepath.Join(f.dir, "org.yaml")},
		f.custody, "collect", "--once", "--collector", "findings")
	if code != 0 || !strings.Contains(res, "findings:"+member+"/"+callsRegion) {
		t.Fatalf("collect --once --collector findings, with the organization: exit %d\n%s", code, res)
	}
}

// putCallsGuardDutyFinding creates a GuardDuty detector in the member
// account and puts a finding in it, through scripts/motoserver.py's
// test-only route (AWS has no such call).
func putCallsGuardDutyFinding(t *testing.T, setup awsclient.Config, endpoint string) {
	t.Helper()
	det, err := guardduty.NewFromConfig(setup.AWS).CreateDetector(context.Background(), &guardduty.CreateDetectorInput{Enable: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"account_id": callsAccount, "region": callsRegion, "detectorId": aws.ToString(det.DetectorId),
		"findings": []map[string]any{{"id": "calls-finding", "severity": 8.0, "title": "calls"}}})
	resp, err := http.Post(endpoint+"/moto-api/static/guardduty/findings", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("putting a GuardDuty finding: %s", resp.Status)
	}
}

// writeCallsInventory writes a one-file S3 Inventory report of src.
func writeCallsInventory(t *testing.T, c *s3.Client, src, dest string) string {
	t.Helper()
	ctx := context.Background()
	prefix := "inventory/" + src + "/all-versions"
	row := fmt.Sprintf("%q,%q,%q,%q,%q,%q,%q\n", src, "orders%2F1.json", "v1", "true", "false", "2", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	gz := cttest.Gzip([]byte(row))
	key := prefix + "/data/0.csv.gz"
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(dest), Key: aws.String(key), Body: bytes.NewReader(gz)}); err != nil {
		t.Fatal(err)
	}
	manifest, _ := json.Marshal(map[string]any{"sourceBucket": src, "destinationBucket": "arn:aws:s3:::" + dest, "fileFormat": "CSV",
		"fileSchema": "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate",
		"files":      []map[string]any{{"key": key, "size": len(gz), "MD5checksum": md5Hex(gz)}}})
	folder := time.Now().UTC().Format("2006-01-02T15-04Z")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(dest), Key: aws.String(prefix + "/" + folder + "/manifest.json"), Body: bytes.NewReader(manifest)}); err != nil {
		t.Fatal(err)
	}
	return prefix
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b) //nolint:gosec // S3 Inventory names its files' MD5
	return hex.EncodeToString(sum[:])
}

// grant is one action on one resource pattern an Allow or Deny statement
// of a policy names.
type grant struct {
	sid, effect, action, resource string
	template                      string // the resource as the policy writes it
	re                            *regexp.Regexp
}

var policyPlaceholder = regexp.MustCompile(`\b[A-Z][A-Z0-9_]*[A-Z0-9]\b`)

// policyGrants reads configs/iam/name, filled in as configs/iam/README.md
// says: a placeholder with several values repeats its resource for each.
func policyGrants(t *testing.T, name string, values map[string][]string) []grant {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "configs", "iam", name))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version   string
		Statement []struct {
			Sid, Effect      string
			Action, Resource any
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	list := func(v any) []string {
		switch v := v.(type) {
		case string:
			return []string{v}
		case []any:
			var out []string
			for _, x := range v {
				out = append(out, x.(string))
			}
			return out
		}
		return nil
	}
	var out []grant
	for _, st := range doc.Statement {
		var resources, templates []string
		for _, r := range list(st.Resource) {
			expanded := []string{r}
			for _, w := range policyPlaceholder.FindAllString(r, -1) {
				vs, ok := values[w]
				if !ok {
					t.Fatalf("%s: no value for the placeholder %s", name, w)
				}
				var next []string
				for _, e := range expanded {
					for _, v := range vs {
						next = append(next, strings.Replace(e, w, v, 1))
					}
				}
				expanded = next
			}
			for _, e := range expanded {
				resources, templates = append(resources, e), append(templates, r)
			}
		}
		for _, a := range list(st.Action) {
			for i, r := range resources {
				re := regexp.MustCompile("^" + strings.ReplaceAll(strings.ReplaceAll(regexp.QuoteMeta(r), `\*`, ".*"), `\?`, ".") + "$")
				out = append(out, grant{sid: st.Sid, effect: st.Effect, action: a, resource: r, template: templates[i], re: re})
			}
		}
	}
	return out
}

// check compares, role by role, what the jobs needed with what the
// role's policy allows.
func (f *callsFixture) check() {
	t := f.t
	needs := map[string]map[awsclient.Need]string{} // role: need: the first job that needed it
	for _, j := range f.jobs {
		evidenceARN, witnessARN := "arn:aws:s3:::"+f.evidence, "arn:aws:s3:::"+f.witness
		if j.evidence != "" {
			evidenceARN = "arn:aws:s3:::" + j.evidence
		}
		b, err := os.ReadFile(j.log)
		if err != nil {
			t.Fatalf("%s logged no call: %v", j.name, err)
		}
		if d := os.Getenv("CUSTODY_TEST_CALLS_DUMP"); d != "" { // a directory to keep each job's calls in
			//nolint:errcheck // a debugging aid
			os.WriteFile(filepath.Join(d, strings.ReplaceAll(j.name, " ", "_")+".jsonl"), b, 0o600)
		}
		calls, err := awsclient.ReadCallLog(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			for _, n := range c.Needs {
				if noPermission[n.Action] {
					continue
				}
				role := j.sourceRole
				switch {
				case n.Resource == evidenceARN || strings.HasPrefix(n.Resource, evidenceARN+"/"),
					n.Resource == witnessARN || strings.HasPrefix(n.Resource, witnessARN+"/"): // its witness's copies too
					role = j.evidenceRole
				case n.Action == "sts:AssumeRole", n.Action == "organizations:ListAccounts": // the agent's own credentials
					role = "agent"
				}
				if role == "" {
					t.Errorf("%s: %s %s (%s on %s) is made as no role", j.name, c.Service, c.Operation, n.Action, n.Resource)
					continue
				}
				if needs[role] == nil {
					needs[role] = map[awsclient.Need]string{}
				}
				add := []awsclient.Need{n}
				if c.Operation == readsLockHeaders[role] && (n.Action == "s3:GetObject" || n.Action == "s3:GetObjectVersion") && !strings.HasPrefix(n.Resource, witnessARN+"/") {
					add = append(add, awsclient.Need{Action: "s3:GetObjectRetention", Resource: n.Resource}, awsclient.Need{Action: "s3:GetObjectLegalHold", Resource: n.Resource})
				}
				for _, n := range add {
					if _, ok := needs[role][n]; !ok {
						needs[role][n] = j.name
					}
				}
			}
		}
	}
	roles := make([]string, 0, len(rolePolicies))
	for r := range rolePolicies {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	for _, role := range roles {
		policy := rolePolicies[role]
		grants := policyGrants(t, policy, f.values)
		used := map[[3]string]bool{} // statement, action, resource as written
		var list []awsclient.Need
		for n := range needs[role] {
			list = append(list, n)
		}
		sort.Slice(list, func(a, b int) bool { return list[a].Action+list[a].Resource < list[b].Action+list[b].Resource })
		for _, n := range list {
			allowed, denied := false, false
			for _, g := range grants {
				if g.action != n.Action || !g.re.MatchString(n.Resource) {
					continue
				}
				if g.effect == "Deny" {
					denied = true
					continue
				}
				allowed = true
				used[[3]string{g.sid, g.action, g.template}] = true
			}
			if !allowed || denied {
				t.Errorf("%s does not allow %s on %s, which %s needs", policy, n.Action, n.Resource, needs[role][n])
			}
		}
		reported := map[[3]string]bool{}
		for _, g := range grants {
			k := [3]string{g.sid, g.action, g.template}
			if g.effect != "Allow" || used[k] || reported[k] {
				continue
			}
			reported[k] = true
			if why, ok := notExercised[[2]string{role, g.action}]; ok {
				t.Logf("%s: %s on %s not exercised: %s", policy, g.action, g.template, why)
				continue
			}
			t.Errorf("%s (%s) allows %s on %s, which nothing needed", policy, g.sid, g.action, g.template)
		}
		if len(needs[role]) == 0 {
			t.Errorf("no job ran as %s", role)
		}
	}
	for k := range notExercised {
		if _, ok := rolePolicies[k[0]]; !ok {
			t.Errorf("notExercised names the unknown role %s", k[0])
		}
	}
}
