package config

import (
	"strings"
	"testing"
	"time"
)

func valid() Config {
	return Config{
		Ledger: "ledger.db",
		Agent:  Agent{Stream: "agent-1", Listen: "127.0.0.1:9464", UnhealthyAfter: 3},
		Store:  Store{Bucket: "evidence", Prefix: "custody", Retention: Retention{Mode: ModeCompliance, Days: 30}},
		Signer: Signer{Key: "awskms:///alias/custody"},
		Sources: Sources{Accounts: []Account{{
			ID: "111122223333", RoleARN: "arn:aws:iam::111122223333:role/custody-collector", ExternalID: "x",
			Regions: []string{"us-east-1"}, Buckets: []string{"data"},
		}}},
		Schedules: Schedules{CloudTrail: "*/15 * * * *", Posture: "@every 10m", Versions: "30 0 */6 * * *", Jitter: "5s"},
	}
}

func TestValidConfigHasNoProblems(t *testing.T) {
	if ps := Validate(valid()); len(ps) != 0 {
		t.Fatal(ps)
	}
}

func TestValidateNamesEachField(t *testing.T) {
	cases := []struct {
		path   string
		mutate func(*Config)
	}{
		{"ledger", func(c *Config) { c.Ledger = "" }},
		{"agent.stream", func(c *Config) { c.Agent.Stream = "has space" }},
		{"agent.listen", func(c *Config) { c.Agent.Listen = "9464" }},
		{"agent.unhealthy_after", func(c *Config) { c.Agent.UnhealthyAfter = 0 }},
		{"agent.heartbeat", func(c *Config) { c.Agent.Heartbeat = "10s" }},
		{"store.bucket", func(c *Config) { c.Store.Bucket = "Upper_Case" }},
		{"store.region", func(c *Config) { c.Store.Region = "useast1" }},
		{"store.endpoint", func(c *Config) { c.Store.Endpoint = "127.0.0.1:9000" }},
		{"verify.clock_tolerance", func(c *Config) { c.Verify.ClockTolerance = -time.Minute }},
		{"store.prefix", func(c *Config) { c.Store.Prefix = "/abs" }},
		{"store.retention.mode", func(c *Config) { c.Store.Retention.Mode = "compliance" }},
		{"store.retention.days", func(c *Config) { c.Store.Retention.Days = 0 }},
		{"store.retention.days", func(c *Config) { c.Store.Retention.Days = 40000 }},
		{"signer.key", func(c *Config) { c.Signer.Key = "" }},
		{"signer.key", func(c *Config) { c.Signer.Key = "file://relative/key.pem" }},
		{"signer.key", func(c *Config) { c.Signer.Key = "awskms://host/not-a-key" }},
		{"signer.key", func(c *Config) { c.Signer.Key = "gcpkms://x" }},
		{"trust[0].name", func(c *Config) { c.Trust = []TrustedKey{{Key: "file:///k.pub"}} }},
		{"trust[0].not_after", func(c *Config) {
			now := time.Now()
			c.Trust = []TrustedKey{{Name: "k", Key: "file:///k.pub", NotBefore: now, NotAfter: now.Add(-time.Hour)}}
		}},
		{"timestamp.cert_chain", func(c *Config) { c.Timestamp.URL = "http://tsa.example" }},
		{"sources.accounts[0].id", func(c *Config) { c.Sources.Accounts[0].ID = "12345" }},
		{"sources.accounts[0].role_arn", func(c *Config) { c.Sources.Accounts[0].RoleARN = "arn:aws:iam::1:user/x" }},
		{"sources.accounts[0].regions", func(c *Config) { c.Sources.Accounts[0].Regions = nil }},
		{"sources.accounts[0].buckets[0]", func(c *Config) { c.Sources.Accounts[0].Buckets = []string{"x"} }},
		{"sources.accounts[0].config_resource_types[1]", func(c *Config) {
			c.Sources.Accounts[0].ConfigResourceTypes = []string{"AWS::S3::Bucket", "S3::Bucket"}
		}},
		{"sources.accounts[0].trails[0].org_id", func(c *Config) {
			c.Sources.Accounts[0].Trails = []Trail{{Name: "t", Bucket: "logs", OrgID: "org"}}
		}},
		{"schedules.cloudtrail", func(c *Config) { c.Schedules.CloudTrail = "every minute" }},
		{"schedules.config", func(c *Config) { c.Schedules.Config = "0 0 31 2 * * *" }},
		{"schedules.jitter", func(c *Config) { c.Schedules.Jitter = "-1s" }},
	}
	for _, tc := range cases {
		c := valid()
		tc.mutate(&c)
		ps := Validate(c)
		found := false
		for _, p := range ps {
			if p.Path == tc.path && p.Message != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: problems %v do not name it", tc.path, ps)
		}
	}
}

func TestUnknownKeys(t *testing.T) {
	settings := map[string]any{
		"ledger": "x",
		"store":  map[string]any{"bucket": "b", "retention": map[string]any{"dayz": 3}},
		"sources": map[string]any{"accounts": []any{
			map[string]any{"id": "1", "trails": []any{map[string]any{"nmae": "t"}}},
		}},
		"typo": 1,
	}
	ps := UnknownKeys(settings)
	var paths []string
	for _, p := range ps {
		paths = append(paths, p.Path)
	}
	want := "sources.accounts[0].trails[0].nmae,store.retention.dayz,typo"
	if got := strings.Join(paths, ","); got != want {
		t.Fatalf("unknown keys = %s, want %s", got, want)
	}
}

func TestTrustedKeyValidAt(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := TrustedKey{NotBefore: from, NotAfter: from.AddDate(1, 0, 0)}
	if k.ValidAt(from.Add(-time.Second)) || !k.ValidAt(from) || !k.ValidAt(from.AddDate(0, 6, 0)) || k.ValidAt(from.AddDate(1, 0, 1)) {
		t.Fatal("validity window not honoured")
	}
	if !(TrustedKey{}).ValidAt(from) {
		t.Fatal("an open window rejects a time")
	}
}

func TestConfigResourceTypesAccepted(t *testing.T) {
	c := valid()
	c.Sources.Accounts[0].ConfigResourceTypes = []string{"AWS::S3::Bucket", "AWS::IAM::Role", "AWS::KMS::Key", "AWS::EC2::SecurityGroup"}
	if ps := Validate(c); len(ps) != 0 {
		t.Fatalf("valid resource types refused: %v", ps)
	}
}

func TestValidateOrganization(t *testing.T) {
	c := valid()
	c.Sources.Organization = &Organization{Role: "custody-collector", ExternalID: "x", Include: []string{"prod-*", "111122223333"}, Exclude: []string{"sandbox-*"},
		Template: Account{Regions: []string{"us-east-1"}, Buckets: []string{"customer-data"}}}
	if ps := Validate(c); len(ps) != 0 {
		t.Fatalf("a valid organization refused: %v", ps)
	}
	c.Sources.Organization = &Organization{Role: "", Exclude: []string{"[bad"}, Template: Account{ID: "111122223333", Regions: []string{"nowhere"}, ConfigResourceTypes: []string{"Bucket"}}}
	want := map[string]bool{"sources.organization.role": true, "sources.organization.exclude[0]": true, "sources.organization.template": true,
		"sources.organization.template.regions[0]": true, "sources.organization.template.config_resource_types[0]": true}
	for _, p := range Validate(c) {
		delete(want, p.Path)
	}
	if len(want) != 0 {
		t.Fatalf("not reported: %v", want)
	}
}

func TestUnknownKeysInTheOrganization(t *testing.T) {
	ps := UnknownKeys(map[string]any{"sources": map[string]any{"organization": map[string]any{"role": "r", "rol": "x",
		"template": map[string]any{"regions": []any{"us-east-1"}, "bucket": "b"}}}})
	got := map[string]bool{}
	for _, p := range ps {
		got[p.Path] = true
	}
	if len(ps) != 2 || !got["sources.organization.rol"] || !got["sources.organization.template.bucket"] {
		t.Fatalf("UnknownKeys: %v", ps)
	}
}
