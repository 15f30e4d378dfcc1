package config

import (
	"time"
)

// Config is the whole configuration of custody and recover. It is filled
// from one YAML file, CUSTODY_* environment variables and flags by the
// command layer, then passed down by value; no package reads it globally.
type Config struct {
	// Ledger is the path of the local SQLite ledger.
	Ledger string `mapstructure:"ledger"`
	// Agent describes this agent's identity and its local endpoints.
	Agent Agent `mapstructure:"agent"`
	// Store is the S3 Object Lock bucket that holds the evidence.
	Store Store `mapstructure:"store"`
	// Signer is the key that signs manifests.
	Signer Signer `mapstructure:"signer"`
	// Trust lists the keys whose signatures verify accepts.
	Trust []TrustedKey `mapstructure:"trust"`
	// Timestamp is the optional RFC 3161 timestamp authority.
	Timestamp Timestamp `mapstructure:"timestamp"`
	// Sources are the accounts, regions and resources collected from.
	Sources Sources `mapstructure:"sources"`
	// Schedules holds one cron expression per collector.
	Schedules Schedules `mapstructure:"schedules"`
	// Verify tunes custody verify.
	Verify Verify `mapstructure:"verify"`
	// Witnesses receive and countersign every checkpoint (see Witness).
	Witnesses []Witness `mapstructure:"witnesses"`
}

// Verify tunes custody verify.
type Verify struct {
	// ClockTolerance is how far a manifest's own sealing time may be from
	// S3's time of storing it (LastModified), and how long after its
	// manifest an artifact may have been stored, before verify reports
	// time-inconsistent. It also bounds the slack in the retention floor.
	ClockTolerance time.Duration `mapstructure:"clock_tolerance"`
}

// Agent identifies one agent. Its stream name keeps its manifest chain
// apart from other agents writing to the same bucket.
type Agent struct {
	Stream  string `mapstructure:"stream"`
	Listen  string `mapstructure:"listen"`
	LogJSON bool   `mapstructure:"log_json"`
	// UnhealthyAfter is how many failed runs in a row of one source make
	// /healthz answer 503 (degraded).
	UnhealthyAfter int `mapstructure:"unhealthy_after"`
	// Heartbeat is how often the agent writes a checkpoint of its stream
	// even with nothing new: verify reports a stream whose newest
	// checkpoint is older than twice this (stream-stale).
	Heartbeat string `mapstructure:"heartbeat"`
}

// Store is the evidence bucket.
type Store struct {
	Bucket    string    `mapstructure:"bucket"`
	Region    string    `mapstructure:"region"`
	Endpoint  string    `mapstructure:"endpoint"`
	Prefix    string    `mapstructure:"prefix"`
	Retention Retention `mapstructure:"retention"`
}

// Retention is the Object Lock retention set on every artifact.
type Retention struct {
	Mode string `mapstructure:"mode"`
	Days int    `mapstructure:"days"`
}

// Retention modes, as S3 spells them.
const (
	ModeCompliance = "COMPLIANCE"
	ModeGovernance = "GOVERNANCE"
)

// Period is the retention as a duration.
func (r Retention) Period() time.Duration { return time.Duration(r.Days) * 24 * time.Hour }

// Signer names the manifest signing key: file:///path/key.pem or an
// awskms:// reference. A key file's passphrase comes from the named
// environment variable or file, never from the config itself.
type Signer struct {
	Key            string `mapstructure:"key"`
	PassphraseEnv  string `mapstructure:"passphrase_env"`
	PassphraseFile string `mapstructure:"passphrase_file"`
}

// TrustedKey is one key verify accepts, for signatures made within its
// validity window.
type TrustedKey struct {
	Name      string    `mapstructure:"name"`
	Key       string    `mapstructure:"key"`
	NotBefore time.Time `mapstructure:"not_before"`
	NotAfter  time.Time `mapstructure:"not_after"`
}

// ValidAt reports whether the key may have made a signature at t.
func (k TrustedKey) ValidAt(t time.Time) bool {
	if !k.NotBefore.IsZero() && t.Before(k.NotBefore) {
		return false
	}
	if !k.NotAfter.IsZero() && t.After(k.NotAfter) {
		return false
	}
	return true
}

// Timestamp is an RFC 3161 time-stamping authority.
type Timestamp struct {
	URL       string `mapstructure:"url"`
	CertChain string `mapstructure:"cert_chain"`
}

// Sources are what the collectors read.
type Sources struct {
	Accounts []Account `mapstructure:"accounts"`
	// Organization, when set, adds every account of the AWS organization
	// (Organizations ListAccounts, on every run) to Accounts.
	Organization *Organization `mapstructure:"organization"`
}

// Organization collects from every account of the organization the
// agent's account can list, each through Role with ExternalID; Template
// gives each found account's regions, buckets and other settings.
type Organization struct {
	// [organization fields]
	Role       string   `mapstructure:"role"`
	ExternalID string   `mapstructure:"external_id"`
	Include    []string `mapstructure:"include"`
	Exclude    []string `mapstructure:"exclude"`
	Template   Account  `mapstructure:"template"`
	// Schedule is when the organization's account list is sealed (cron, as
	// schedules:); "@hourly" when empty.
	Schedule string `mapstructure:"schedule"`
	// [end organization fields]
}

// Account is one AWS account collected from. RoleARN is assumed with
// ExternalID; an empty RoleARN uses the agent's own credentials.
type Account struct {
	ID            string         `mapstructure:"id"`
	RoleARN       string         `mapstructure:"role_arn"`
	ExternalID    string         `mapstructure:"external_id"`
	Regions       []string       `mapstructure:"regions"`
	Trails        []Trail        `mapstructure:"trails"`
	ConfigBuckets []BucketPrefix `mapstructure:"config_buckets"`
	// DeliverConfigSnapshots has the config collector ask AWS Config to
	// deliver a snapshot on every run.
	DeliverConfigSnapshots bool     `mapstructure:"deliver_config_snapshots"`
	Buckets                []string `mapstructure:"buckets"`
	// VersionsSplit lists each monitored bucket's top-level prefixes in
	// parallel, this many at once (0: one listing).
	VersionsSplit int `mapstructure:"versions_split"`
	// Inventories name S3 Inventory reports to read instead of listing
	// very large monitored buckets.
	Inventories []Inventory `mapstructure:"inventories"`

	// [access logs fields]
	// LogBuckets are other log deliveries to S3 (VPC flow logs, load
	// balancer logs) copied and sealed as opaque files.
	LogBuckets []BucketPrefix `mapstructure:"log_buckets"`
	// AccessLogs give a monitored bucket's server access log target where
	// GetBucketLogging cannot (an S3 server without the API answers "not
	// logging"): collected besides any target S3 reports.
	AccessLogs []AccessLogTarget `mapstructure:"access_logs"`
	// [end access logs fields]

	// [config fields]
	// ConfigResourceTypes are the AWS Config resource types whose
	// configuration history is preserved (the S3, IAM and KMS types when
	// empty).
	ConfigResourceTypes []string `mapstructure:"config_resource_types"`
	// [end config fields]

	// [iam, kms fields]
	// KMSKeys are KMS keys (ids, ARNs or aliases) whose policy, grants
	// and rotation the kms collector preserves besides those the
	// monitored buckets and trails use; a key id or alias is looked up in
	// the first region, an ARN in its own.
	KMSKeys []string `mapstructure:"kms_keys"`
	// [end iam, kms fields]

	// [findings fields]
	// [end findings fields]
}

// Inventory locates the S3 Inventory reports (CSV, all versions) of a
// monitored bucket: report_prefix is <destination prefix>/<bucket>/<configuration id>.
type Inventory struct {
	Bucket       string `mapstructure:"bucket"`
	ReportBucket string `mapstructure:"report_bucket"`
	ReportPrefix string `mapstructure:"report_prefix"`
}

// Trail is a CloudTrail trail given explicitly instead of discovered.
type Trail struct {
	Name       string `mapstructure:"name"`
	HomeRegion string `mapstructure:"home_region"`
	Bucket     string `mapstructure:"bucket"`
	Prefix     string `mapstructure:"prefix"`
	OrgID      string `mapstructure:"org_id"`
	// [trail fields]
	// Lookback is how far back the trail's first run starts (90 days
	// when empty): a Go duration or a number of days such as 90d.
	Lookback string `mapstructure:"lookback"`
	// [end trail fields]
}

// BucketPrefix is a bucket and a key prefix in it.
type BucketPrefix struct {
	Bucket string `mapstructure:"bucket"`
	Prefix string `mapstructure:"prefix"`
}

// Schedules are cron expressions (five fields, or six with seconds
// first, or descriptors such as @hourly). An empty one disables that
// collector.
type Schedules struct {
	CloudTrail string `mapstructure:"cloudtrail"`
	Config     string `mapstructure:"config"`
	Posture    string `mapstructure:"posture"`
	Versions   string `mapstructure:"versions"`
	AccessLogs string `mapstructure:"accesslogs"`
	IAM        string `mapstructure:"iam"`
	KMS        string `mapstructure:"kms"`
	Findings   string `mapstructure:"findings"`
	Jitter     string `mapstructure:"jitter"`
}

// HeartbeatPeriod is agent.heartbeat as a duration (1 h when unset).
func (a Agent) HeartbeatPeriod() time.Duration {
	d, err := time.ParseDuration(a.Heartbeat)
	if err != nil || d <= 0 {
		return time.Hour
	}
	return d
}

// Defaults returns the configuration used where the file, environment
// and flags say nothing. Every scalar key appears here, so that each can
// be overridden from the environment.
func Defaults() map[string]any {
	return map[string]any{
		"ledger":                 "custody-ledger.db",
		"agent.stream":           "",
		"agent.listen":           "127.0.0.1:9464",
		"agent.log_json":         true,
		"agent.unhealthy_after":  3,
		"agent.heartbeat":        "1h",
		"store.bucket":           "",
		"store.region":           "",
		"store.endpoint":         "",
		"store.prefix":           "custody",
		"store.retention.mode":   ModeCompliance,
		"store.retention.days":   2557, // seven years
		"signer.key":             "",
		"signer.passphrase_env":  "CUSTODY_KEY_PASSPHRASE",
		"signer.passphrase_file": "",
		"timestamp.url":          "",
		"timestamp.cert_chain":   "",
		"schedules.cloudtrail":   "*/15 * * * *",
		"schedules.config":       "0 * * * *",
		"schedules.posture":      "*/10 * * * *",
		"schedules.versions":     "0 */6 * * *",
		"schedules.accesslogs":   "*/15 * * * *",
		"schedules.iam":          "0 * * * *",
		"schedules.kms":          "0 * * * *",
		"schedules.findings":     "*/30 * * * *",
		"schedules.jitter":       "30s",
		"verify.clock_tolerance": "15m",
	}
}
