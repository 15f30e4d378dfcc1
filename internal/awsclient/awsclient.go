// Package awsclient builds every AWS client custody and recover use, in one
// place: the SDK's default chain (profiles, environment, AWS_ENDPOINT_URL
// and AWS_ENDPOINT_URL_<SERVICE>), standard retries within a time budget
// per call (timeouts.go, retry.go), path-style S3 addressing whenever a
// custom S3 endpoint is in force, and AssumeRole with an external ID and a
// session name that says who is calling. Short (short.go) turns the SDK's
// errors into one line for people.
package awsclient

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3control"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// Options adjust Load. Zero values leave the SDK's own resolution alone.
type Options struct {
	// Region overrides AWS_REGION and the profile's region.
	Region string
	// Profile selects a shared-config profile (else AWS_PROFILE).
	Profile string
	// S3Endpoint overrides AWS_ENDPOINT_URL_S3 for S3 clients made from
	// this configuration (the store's or replica's own endpoint).
	S3Endpoint string
	// Endpoint overrides AWS_ENDPOINT_URL for every service.
	Endpoint string
	// Credentials replaces the default credential chain.
	Credentials aws.CredentialsProvider
	// MaxAttempts caps tries per call; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// OnRetry, when set, is told of every retry (see RetryFunc).
	OnRetry RetryFunc
}

type defaultsKey struct{}

// WithDefaults returns a context whose Options fill in, for every Load
// made with it, the fields the caller's own Options leave empty: the
// commands put the --profile, --region and --endpoint-url flags and the
// retry printer there once, and every client they load follows them.
func WithDefaults(ctx context.Context, o Options) context.Context {
	return context.WithValue(ctx, defaultsKey{}, o)
}

// merge fills o's empty fields from d.
func (o Options) merge(d Options) Options {
	if o.Region == "" {
		o.Region = d.Region
	}
	if o.Profile == "" {
		o.Profile = d.Profile
	}
	if o.Endpoint == "" {
		o.Endpoint = d.Endpoint
	}
	if o.S3Endpoint == "" {
		o.S3Endpoint = d.S3Endpoint
	}
	if o.Credentials == nil {
		o.Credentials = d.Credentials
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = d.MaxAttempts
	}
	if o.OnRetry == nil {
		o.OnRetry = d.OnRetry
	}
	return o
}

// DefaultMaxAttempts is how many times a call is tried, with exponential
// backoff (up to 20 s) between tries. The SDK's default, 3, gives up
// within a second or two of a burst of 503 SlowDown or a flapping
// network; evidence collection and recovery would rather wait, as long
// as the call timeout allows (CallTimeout; ConnectRetryBudget when the
// endpoint cannot be reached at all). AWS_MAX_ATTEMPTS overrides it.
const DefaultMaxAttempts = 10

// maxAttempts is DefaultMaxAttempts, or AWS_MAX_ATTEMPTS when set. The
// SDK ignores that variable once a retryer of one's own is configured, so
// it is read here.
func maxAttempts() (int, error) {
	v := os.Getenv("AWS_MAX_ATTEMPTS")
	if v == "" {
		return DefaultMaxAttempts, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, ConfigError{Err: fmt.Errorf("AWS_MAX_ATTEMPTS=%q: want a whole number of at least 1", v)}
	}
	return n, nil
}

// DefaultReadTimeout is how long a connection may go without delivering
// a byte before the call fails and is retried. S3 keeps slow copies alive
// with whitespace, so a healthy call never goes this long in silence.
const DefaultReadTimeout = 2 * time.Minute

// Config is an aws.Config plus the few settings custody adds on top of it.
type Config struct {
	AWS        aws.Config
	s3Endpoint string
}

// Load resolves credentials, region and endpoints through the SDK's
// default chain, with the standard retry mode (jittered exponential
// backoff on throttling, 5xx and network errors) for DefaultMaxAttempts.
// Not the adaptive mode: it slows every call of the client after a few
// SlowDown answers, and a burst of them turned a 3-second collection into
// several minutes in the reliability suite.
//
// Every call is bounded: ConnectTimeout to connect, the attempt timeout
// for the response to start, the call timeout for all its attempts (see
// CallTimeout); a large body that keeps moving is never cut. Options put
// in ctx by WithDefaults fill in what o leaves empty. A profile that does
// not exist, or a bad CUSTODY_AWS_* setting, is a ConfigError.
func Load(ctx context.Context, o Options) (Config, error) {
	if d, ok := ctx.Value(defaultsKey{}).(Options); ok {
		o = o.merge(d)
	}
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	if o.Endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(o.Endpoint))
	}
	if o.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(o.Credentials))
	}
	limits, err := loadTimeouts()
	if err != nil {
		return Config{}, err
	}
	// Every call is bounded (see timeouts.httpClient): a connection that
	// goes silent (a stalled proxy, a half-open TCP connection) fails after
	// the read timeout without a byte, and is retried; without it a call
	// could wait forever.
	opts = append(opts, config.WithHTTPClient(limits.httpClient()))
	r := &retryer{max: o.MaxAttempts}
	if r.max <= 0 {
		if r.max, err = maxAttempts(); err != nil {
			return Config{}, err
		}
	}
	opts = append(opts, config.WithRetryer(func() aws.Retryer {
		std := retry.NewStandard(func(s *retry.StandardOptions) {
			s.MaxAttempts = r.max
			// No client-wide retry quota: a burst of SlowDown would
			// otherwise drain it and fail every call in flight at once.
			// Each call still backs off on its own (jittered, up to 20 s).
			s.RateLimiter = ratelimit.None
		})
		return &retryer{RetryerV2: std, max: r.max}
	}))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return Config{}, configError(o, err)
	}
	cfg.HTTPClient = splitHTTP(cfg.HTTPClient)
	cfg.APIOptions = append(cfg.APIOptions, callMiddleware(limits, r.max, o.OnRetry))
	if err := addCallLog(&cfg); err != nil { // CUSTODY_AWS_CALL_LOG (calllog.go)
		return Config{}, err
	}
	return Config{AWS: cfg, s3Endpoint: o.S3Endpoint}, nil
}

// S3 returns an S3 client. Whenever a custom endpoint is in force (from
// Options.S3Endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or a profile's
// endpoint_url), it uses path-style addressing, which S3-compatible
// servers and VPC endpoints expect.
func (c Config) S3(optFns ...func(*s3.Options)) *s3.Client {
	fns := []func(*s3.Options){func(o *s3.Options) {
		if c.s3Endpoint != "" {
			o.BaseEndpoint = aws.String(c.s3Endpoint)
		}
		if o.BaseEndpoint != nil {
			o.UsePathStyle = true
		}
		// Multipart objects carry composite checksums the SDK cannot
		// validate on download; custody checks them itself.
		o.DisableLogOutputChecksumValidationSkipped = true
	}}
	return s3.NewFromConfig(c.AWS, append(fns, optFns...)...)
}

// STS returns an STS client.
func (c Config) STS() *sts.Client { return sts.NewFromConfig(c.AWS) }

// WithRegion returns a copy of c for another region, keeping credentials.
func (c Config) WithRegion(region string) Config {
	c.AWS = c.AWS.Copy()
	c.AWS.Region = region
	return c
}

// AssumeRole returns a copy of c whose credentials come from assuming
// roleARN with externalID; they are cached and refreshed before expiry.
// sessionName should name the agent and purpose (see SessionName).
func (c Config) AssumeRole(roleARN, externalID, sessionName string) Config {
	provider := stscreds.NewAssumeRoleProvider(c.STS(), roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = sessionName
		if externalID != "" {
			o.ExternalID = aws.String(externalID)
		}
	})
	c.AWS = c.AWS.Copy()
	c.AWS.Credentials = aws.NewCredentialsCache(provider)
	return c
}

var sessionNameBad = regexp.MustCompile(`[^\w+=,.@-]+`)

// SessionName builds a role session name CloudTrail will show for every
// call custody makes: "custody-<purpose>-<agent>", limited to the
// characters and the 64-character length STS allows.
func SessionName(purpose, agent string) string {
	s := "custody-" + purpose
	if agent != "" {
		s += "-" + agent
	}
	s = sessionNameBad.ReplaceAllString(s, "-")
	s = strings.Trim(s, "-")
	if len(s) > 64 {
		s = s[:64]
	}
	if len(s) < 2 {
		s = "custody"
	}
	return s
}

// S3Control returns an S3 Control client. S3 Control's endpoint rules put
// the account id in front of the host name; a custom endpoint (a stand-in,
// a proxy) is used exactly as given instead.
func (c Config) S3Control() *s3control.Client {
	return s3control.NewFromConfig(c.AWS, func(o *s3control.Options) {
		if o.BaseEndpoint != nil {
			o.EndpointResolverV2 = fixedEndpoint(*o.BaseEndpoint)
		}
	})
}

type fixedEndpoint string

func (f fixedEndpoint) ResolveEndpoint(context.Context, s3control.EndpointParameters) (smithyendpoints.Endpoint, error) {
	u, err := url.Parse(string(f))
	if err != nil {
		return smithyendpoints.Endpoint{}, err
	}
	return smithyendpoints.Endpoint{URI: *u}, nil
}
