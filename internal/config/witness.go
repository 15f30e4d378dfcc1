package config

import (
	"fmt"
	"regexp"
)

// Witness is a second Object Lock bucket, in another account or region,
// that receives every checkpoint of the store's streams and countersigns
// it with its own Ed25519 key (C2SP tlog-cosignature/v1). Verify reads its
// copies with the public key alone; the private key is needed only where
// checkpoints are written (the agent, custody add).
type Witness struct {
	// Name is the witness's key name (witness.example/w1): it names the
	// cosignature and goes into its key id.
	Name     string `mapstructure:"name"`
	Bucket   string `mapstructure:"bucket"`
	Region   string `mapstructure:"region"`
	Endpoint string `mapstructure:"endpoint"`
	// Prefix is where in the bucket the copies go (default "witness").
	Prefix string `mapstructure:"prefix"`
	// Key is file:///path of the witness's encrypted Ed25519 private key
	// (custody keygen --ed25519), whose passphrase is in the environment
	// variable PassphraseEnv (default CUSTODY_KEY_PASSPHRASE, as the signer's).
	Key           string `mapstructure:"key"`
	PassphraseEnv string `mapstructure:"passphrase_env"`
	// Public is file:///path of the witness's Ed25519 public key (PEM).
	Public string `mapstructure:"public"`
	// The witness's bucket is reached with the store's credentials, unless
	// Profile names a profile of the shared AWS configuration (another
	// account's credentials), or RoleARN a role to assume from the store's
	// credentials (with ExternalID).
	Profile    string `mapstructure:"profile"`
	RoleARN    string `mapstructure:"role_arn"`
	ExternalID string `mapstructure:"external_id"`
}

// DefaultWitnessPrefix is a witness's prefix when none is configured.
const DefaultWitnessPrefix = "witness"

// DefaultWitnessPassphraseEnv holds a witness key's passphrase when
// passphrase_env is not configured.
const DefaultWitnessPassphraseEnv = "CUSTODY_KEY_PASSPHRASE"

// KeyPrefix is the witness's prefix, "witness" when unset.
func (w Witness) KeyPrefix() string {
	if w.Prefix == "" {
		return DefaultWitnessPrefix
	}
	return w.Prefix
}

// PassphraseEnvOrDefault is the variable holding the key's passphrase.
func (w Witness) PassphraseEnvOrDefault() string {
	if w.PassphraseEnv == "" {
		return DefaultWitnessPassphraseEnv
	}
	return w.PassphraseEnv
}

// witnessNameRE is a note key name: no spaces, no '+'.
var witnessNameRE = regexp.MustCompile(`^[^\s+]{1,128}$`)

// validateWitnesses checks witnesses[]: each needs a key name, a bucket
// other than the store's, a public key, and file:// keys.
func validateWitnesses(add func(string, string, ...any), c Config) {
	names := map[string]bool{}
	for i, w := range c.Witnesses {
		p := fmt.Sprintf("witnesses[%d]", i)
		switch {
		case !witnessNameRE.MatchString(w.Name):
			add(p+".name", "a key name without spaces or '+' expected (for example witness.example/w1), got %q", w.Name)
		case names[w.Name]:
			add(p+".name", "%q names another witness already; each needs its own name", w.Name)
		}
		names[w.Name] = true
		switch {
		case !bucketRE.MatchString(w.Bucket):
			add(p+".bucket", "the witness's S3 bucket name expected, got %q", w.Bucket)
		case w.Bucket == c.Store.Bucket && (w.Endpoint == "" || w.Endpoint == c.Store.Endpoint):
			add(p+".bucket", "the evidence bucket cannot witness itself: name a bucket in another account or region")
		}
		checkRegion(add, p+".region", w.Region)
		if w.Endpoint != "" {
			checkHTTPURL(add, p+".endpoint", w.Endpoint)
		}
		if w.Prefix != "" && !keyPrefixRE.MatchString(w.Prefix) {
			add(p+".prefix", "a key prefix without a leading or trailing '/' or empty segments expected, got %q", w.Prefix)
		}
		if w.Public == "" {
			add(p+".public", "the witness's Ed25519 public key is required: file:///path/witness.pub")
		} else {
			checkFileRef(add, p+".public", w.Public)
		}
		if w.Key != "" {
			checkFileRef(add, p+".key", w.Key)
		}
		if w.PassphraseEnv != "" && w.Key == "" {
			add(p+".passphrase_env", "only meaningful with key")
		}
		switch {
		case w.Profile != "" && w.RoleARN != "":
			add(p+".profile", "profile and role_arn are alternatives: give one")
		case w.RoleARN != "" && !roleARNRE.MatchString(w.RoleARN):
			add(p+".role_arn", "an IAM role ARN expected (arn:aws:iam::<account>:role/<name>), got %q", w.RoleARN)
		case w.ExternalID != "" && w.RoleARN == "":
			add(p+".external_id", "only meaningful with role_arn")
		}
	}
}

var keyPrefixRE = regexp.MustCompile(`^[^/]+(/[^/]+)*$`)

// checkFileRef accepts file:///absolute/path.
func checkFileRef(add func(string, string, ...any), path, ref string) {
	if len(ref) < len("file:///") || ref[:len("file://")] != "file://" || ref[len("file://")] != '/' {
		add(path, "file:// with an absolute path expected (file:///etc/custody/witness.pem), got %q", ref)
	}
}
