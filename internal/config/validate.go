package config

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	kmsaws "github.com/sigstore/sigstore/pkg/signature/kms/aws"
)

// Problem is one thing wrong with a configuration: the dotted path of the
// field (list items as [i]), what is expected there, and where the value
// came from.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
	// Source is where the value came from: a flag (--bucket), an
	// environment variable (CUSTODY_STORE_BUCKET), the file's path, or
	// SourceDefault; empty when nothing set it.
	Source string `json:"source,omitempty"`
}

// SourceDefault is the Source of a value that came from Defaults.
const SourceDefault = "default"

func (p Problem) String() string {
	switch p.Source {
	case "":
		return p.Path + ": " + p.Message
	case SourceDefault:
		return p.Path + " (the default): " + p.Message
	}
	return p.Path + " (from " + p.Source + "): " + p.Message
}

// Problems is a list of problems that is also an error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return "invalid configuration:\n  " + strings.Join(lines, "\n  ")
}

// CronParser is the parser for every schedule: an optional seconds field
// first, then the usual five, or a descriptor such as @hourly.
var CronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

var (
	bucketRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+$`)
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	roleARNRE = regexp.MustCompile(`^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
	streamRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	orgIDRE   = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	// configTypeRE is an AWS Config resource type: AWS::Service::Type.
	configTypeRE = regexp.MustCompile(`^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$`)
)

// kmsKeyRE is a KMS key as KMS's KeyId takes it: a key id, a key ARN, an
// alias name or an alias ARN ([iam, kms validation]).
var kmsKeyRE = regexp.MustCompile(`^(alias/[\w/-]{1,250}|arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:[0-9]{12}:(key/[\w-]{1,128}|alias/[\w/-]{1,250})|(mrk-)?[0-9a-fA-F-]{32,36})$`)

// maxRetentionDays is S3's limit on a retention period (100 years).
const maxRetentionDays = 36500

// Validate checks every field and returns all problems found, in field
// order; nil means the configuration is usable.
func Validate(c Config) Problems {
	var ps Problems
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}

	if c.Ledger == "" {
		add("ledger", "a file path for the SQLite ledger is required")
	}
	if c.Agent.Stream != "" && !streamRE.MatchString(c.Agent.Stream) {
		add("agent.stream", "1 to 64 characters of letters, digits, '.', '_' or '-' expected, got %q", c.Agent.Stream)
	}
	if c.Agent.UnhealthyAfter < 1 {
		add("agent.unhealthy_after", "at least 1 failed run expected, got %d", c.Agent.UnhealthyAfter)
	}
	if c.Agent.Heartbeat != "" {
		if d, err := time.ParseDuration(c.Agent.Heartbeat); err != nil || d < time.Minute {
			add("agent.heartbeat", "a duration of at least 1m expected (for example 1h), got %q", c.Agent.Heartbeat)
		}
	}
	if c.Agent.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Agent.Listen); err != nil {
			add("agent.listen", "host:port expected (for example 127.0.0.1:9464), got %q", c.Agent.Listen)
		}
	}

	// Store.
	switch {
	case c.Store.Bucket == "":
		add("store.bucket", "the evidence bucket name is required")
	case !bucketRE.MatchString(c.Store.Bucket):
		add("store.bucket", "an S3 bucket name expected (3-63 lower-case letters, digits, '.', '-'), got %q", c.Store.Bucket)
	}
	checkRegion(add, "store.region", c.Store.Region)
	if c.Store.Endpoint != "" {
		checkHTTPURL(add, "store.endpoint", c.Store.Endpoint)
	}
	if strings.HasPrefix(c.Store.Prefix, "/") || strings.Contains(c.Store.Prefix, "//") {
		add("store.prefix", "a key prefix without a leading '/' or empty segments expected, got %q", c.Store.Prefix)
	}
	switch c.Store.Retention.Mode {
	case ModeCompliance, ModeGovernance:
	default:
		add("store.retention.mode", "COMPLIANCE or GOVERNANCE expected, got %q", c.Store.Retention.Mode)
	}
	if c.Store.Retention.Days < 1 || c.Store.Retention.Days > maxRetentionDays {
		add("store.retention.days", "a retention of 1 to %d days expected, got %d", maxRetentionDays, c.Store.Retention.Days)
	}

	// Signer and trust.
	if c.Signer.Key == "" {
		add("signer.key", "a signing key is required: file:///path/key.pem or awskms:///<key id, ARN or alias>")
	} else {
		checkKeyRef(add, "signer.key", c.Signer.Key)
	}
	for i, k := range c.Trust {
		p := fmt.Sprintf("trust[%d]", i)
		if k.Name == "" {
			add(p+".name", "a name for this key is required (it appears in reports)")
		}
		if k.Key == "" {
			add(p+".key", "a public key is required: file:///path/key.pub or awskms:///<key>")
		} else {
			checkKeyRef(add, p+".key", k.Key)
		}
		if !k.NotBefore.IsZero() && !k.NotAfter.IsZero() && !k.NotAfter.After(k.NotBefore) {
			add(p+".not_after", "must be later than not_before (%s)", k.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	if c.Timestamp.URL != "" {
		checkHTTPURL(add, "timestamp.url", c.Timestamp.URL)
		if c.Timestamp.CertChain == "" {
			add("timestamp.cert_chain", "the TSA's PEM certificate chain is required with timestamp.url")
		}
	}

	validateWitnesses(add, c)

	// Sources.
	for i, a := range c.Sources.Accounts {
		p := fmt.Sprintf("sources.accounts[%d]", i)
		if !accountRE.MatchString(a.ID) {
			add(p+".id", "a 12-digit AWS account id expected, got %q (quote it in YAML to keep leading zeros)", a.ID)
		}
		if a.RoleARN != "" && !roleARNRE.MatchString(a.RoleARN) {
			add(p+".role_arn", "an IAM role ARN expected (arn:aws:iam::<account>:role/<name>), got %q", a.RoleARN)
		}
		if a.ExternalID != "" && a.RoleARN == "" {
			add(p+".external_id", "only meaningful with role_arn")
		}
		if len(a.Regions) == 0 {
			add(p+".regions", "at least one region is required")
		}
		for j, r := range a.Regions {
			checkRegion(add, fmt.Sprintf("%s.regions[%d]", p, j), r)
			if r == "" {
				add(fmt.Sprintf("%s.regions[%d]", p, j), "a region name expected, got an empty string")
			}
		}
		for j, t := range a.Trails {
			tp := fmt.Sprintf("%s.trails[%d]", p, j)
			if t.Name == "" {
				add(tp+".name", "the trail name is required")
			}
			if t.Bucket == "" || !bucketRE.MatchString(t.Bucket) {
				add(tp+".bucket", "the trail's log bucket name is required, got %q", t.Bucket)
			}
			checkRegion(add, tp+".home_region", t.HomeRegion)
			if t.OrgID != "" && !orgIDRE.MatchString(t.OrgID) {
				add(tp+".org_id", "an organization id (o-xxxxxxxxxx) expected, got %q", t.OrgID)
			}
			if _, err := t.LookbackPeriod(); err != nil {
				add(tp+".lookback", "%v", err)
			}
		}
		for j, b := range a.ConfigBuckets {
			if !bucketRE.MatchString(b.Bucket) {
				add(fmt.Sprintf("%s.config_buckets[%d].bucket", p, j), "an S3 bucket name expected, got %q", b.Bucket)
			}
		}
		if a.VersionsSplit < 0 || a.VersionsSplit > 256 {
			add(p+".versions_split", "0 to 256 parallel listings expected, got %d", a.VersionsSplit)
		}
		for j, inv := range a.Inventories {
			ip := fmt.Sprintf("%s.inventories[%d]", p, j)
			if !bucketRE.MatchString(inv.Bucket) {
				add(ip+".bucket", "the monitored bucket's name expected, got %q", inv.Bucket)
			}
			if !bucketRE.MatchString(inv.ReportBucket) {
				add(ip+".report_bucket", "the bucket the inventory reports go to expected, got %q", inv.ReportBucket)
			}
			if inv.ReportPrefix == "" {
				add(ip+".report_prefix", "<destination prefix>/<bucket>/<configuration id> expected")
			}
		}
		for j, b := range a.Buckets {
			if !bucketRE.MatchString(b) {
				add(fmt.Sprintf("%s.buckets[%d]", p, j), "an S3 bucket name expected, got %q", b)
			}
		}
		// [iam, kms validation]
		for j, k := range a.KMSKeys {
			if !kmsKeyRE.MatchString(k) {
				add(fmt.Sprintf("%s.kms_keys[%d]", p, j), "a KMS key id, key ARN, alias/NAME or alias ARN expected, got %q", k)
			}
		}
		// [end iam, kms validation]
		for j, rt := range a.ConfigResourceTypes {
			if !configTypeRE.MatchString(rt) {
				add(fmt.Sprintf("%s.config_resource_types[%d]", p, j), "an AWS Config resource type AWS::Service::Type expected (for example AWS::S3::Bucket), got %q", rt)
			}
		}
		validateAccessLogs(add, p, a) // [access logs validation]
	}

	validateOrganization(add, c.Sources.Organization)

	// Schedules.
	for _, s := range []struct{ name, expr string }{
		{"schedules.cloudtrail", c.Schedules.CloudTrail},
		{"schedules.config", c.Schedules.Config},
		{"schedules.posture", c.Schedules.Posture},
		{"schedules.versions", c.Schedules.Versions},
		{"schedules.accesslogs", c.Schedules.AccessLogs},
		{"schedules.iam", c.Schedules.IAM},
		{"schedules.kms", c.Schedules.KMS},
		{"schedules.findings", c.Schedules.Findings},
	} {
		if s.expr == "" {
			continue
		}
		if _, err := CronParser.Parse(s.expr); err != nil {
			add(s.name, "a cron expression expected (5 fields, 6 with seconds first, or @every/@hourly...): %v", err)
		}
	}
	if c.Schedules.Jitter != "" {
		if d, err := time.ParseDuration(c.Schedules.Jitter); err != nil || d < 0 {
			add("schedules.jitter", "a non-negative duration expected (for example 30s), got %q", c.Schedules.Jitter)
		}
	}

	// Verify.
	if c.Verify.ClockTolerance < 0 || c.Verify.ClockTolerance > 24*time.Hour {
		add("verify.clock_tolerance", "a duration from 0 to 24h expected (for example 15m), got %s", c.Verify.ClockTolerance)
	}
	return ps
}

func checkRegion(add func(string, string, ...any), path, r string) {
	if r != "" && !regionRE.MatchString(r) {
		add(path, "an AWS region name expected (for example us-east-1), got %q", r)
	}
}

func checkHTTPURL(add func(string, string, ...any), path, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add(path, "an http:// or https:// URL expected, got %q", raw)
	}
}

// checkKeyRef accepts file:///absolute/path and any reference sigstore's
// AWS KMS provider accepts.
func checkKeyRef(add func(string, string, ...any), path, ref string) {
	switch {
	case strings.HasPrefix(ref, "file://"):
		p := strings.TrimPrefix(ref, "file://")
		if p == "" || !filepath.IsAbs(p) {
			add(path, "file:// with an absolute path expected (file:///etc/custody/key.pem), got %q", ref)
		}
	case strings.HasPrefix(ref, kmsaws.ReferenceScheme):
		if err := kmsaws.ValidReference(ref); err != nil {
			add(path, "a malformed KMS URI %q: awskms:///<key id | key ARN | alias/name | alias ARN> expected", ref)
		}
	default:
		add(path, "file:///path or awskms:///key expected, got %q", ref)
	}
}

// UnknownKeys walks settings (as a YAML or viper map) against the fields
// of Config and returns a problem for every key that is not a field, so a
// typo never silently disables anything.
func UnknownKeys(settings map[string]any) Problems {
	var ps Problems
	walkKeys(&ps, "", settings, reflect.TypeOf(Config{}))
	sort.Slice(ps, func(i, j int) bool { return ps[i].Path < ps[j].Path })
	return ps
}

func walkKeys(ps *Problems, prefix string, v any, t reflect.Type) {
	switch t.Kind() {
	case reflect.Pointer: // sources.organization
		walkKeys(ps, prefix, v, t.Elem())
	case reflect.Struct:
		if t == reflect.TypeOf(time.Time{}) {
			return
		}
		m, ok := v.(map[string]any)
		if !ok {
			return // a type mismatch; decoding reports it
		}
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("mapstructure"), ",")[0]
			fields[tag] = t.Field(i).Type
			names = append(names, tag)
		}
		for k, sub := range m {
			name := k
			if name == "" {
				name = `""` // an empty key, spelled so the path shows it
			}
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			ft, ok := fields[strings.ToLower(k)]
			if !ok {
				*ps = append(*ps, Problem{Path: path, Message: "unknown key (expected one of: " + strings.Join(names, ", ") + ")"})
				continue
			}
			walkKeys(ps, path, sub, ft)
		}
	case reflect.Slice:
		items, ok := v.([]any)
		if !ok {
			return
		}
		for i, it := range items {
			walkKeys(ps, fmt.Sprintf("%s[%d]", prefix, i), it, t.Elem())
		}
	}
}

// roleNameRE is an IAM role name, with an optional path.
var roleNameRE = regexp.MustCompile(`^([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$`)

// validateOrganization checks sources.organization: the role to assume in
// each account, include and exclude (account ids or names, or globs of
// either), and the template every found account is collected with.
func validateOrganization(add func(string, string, ...any), o *Organization) {
	if o == nil {
		return
	}
	const p = "sources.organization"
	if !roleNameRE.MatchString(o.Role) {
		add(p+".role", "the name of the role to assume in every account is required (for example custody-collector), got %q", o.Role)
	}
	for name, pats := range map[string][]string{"include": o.Include, "exclude": o.Exclude} {
		for i, pat := range pats {
			if _, err := path.Match(pat, ""); err != nil || pat == "" {
				add(fmt.Sprintf("%s.%s[%d]", p, name, i), "an account id or name, or a glob of either (sandbox-*), expected, got %q", pat)
			}
		}
	}
	if o.Schedule != "" {
		if _, err := CronParser.Parse(o.Schedule); err != nil {
			add(p+".schedule", "a cron expression expected (5 fields, 6 with seconds first, or @every/@hourly...): %v", err)
		}
	}
	t := o.Template
	if t.ID != "" || t.RoleARN != "" || t.ExternalID != "" {
		add(p+".template", "leave id, role_arn and external_id out: each account found gives its id, and sources.organization.role and external_id say how to reach it")
	}
	if len(t.Regions) == 0 {
		add(p+".template.regions", "at least one region is required")
	}
	for j, r := range t.Regions {
		if r == "" || !regionRE.MatchString(r) {
			add(fmt.Sprintf("%s.template.regions[%d]", p, j), "an AWS region name expected (for example us-east-1), got %q", r)
		}
	}
	for j, b := range t.Buckets {
		if !bucketRE.MatchString(b) {
			add(fmt.Sprintf("%s.template.buckets[%d]", p, j), "an S3 bucket name expected, got %q", b)
		}
	}
	for j, rt := range t.ConfigResourceTypes {
		if !configTypeRE.MatchString(rt) {
			add(fmt.Sprintf("%s.template.config_resource_types[%d]", p, j), "an AWS Config resource type AWS::Service::Type expected, got %q", rt)
		}
	}
}
