package awsclient

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
)

// ConfigError is an AWS configuration the caller must fix before any call
// can succeed: a profile that does not exist, a malformed setting. The
// commands exit 2 on it, as on any configuration error.
type ConfigError struct{ Err error }

func (e ConfigError) Error() string { return e.Err.Error() }
func (e ConfigError) Unwrap() error { return e.Err }

// configError describes a failure of the SDK's configuration loading.
func configError(o Options, err error) error {
	var missing config.SharedConfigProfileNotExistError
	if errors.As(err, &missing) {
		return ConfigError{Err: fmt.Errorf("AWS profile %q not found in %s (%s, or set AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE)",
			missing.Profile, profileFiles(missing.Filename), profileSource(o))}
	}
	var assume config.SharedConfigAssumeRoleError
	if errors.As(err, &assume) {
		return ConfigError{Err: fmt.Errorf("AWS profile %q: %w", assume.Profile, err)}
	}
	return fmt.Errorf("load AWS configuration: %w", err)
}

// profileFiles lists the files profiles were read from.
func profileFiles(files []string) string {
	if len(files) == 0 {
		files = []string{config.DefaultSharedConfigFilename(), config.DefaultSharedCredentialsFilename()}
		if f := os.Getenv("AWS_CONFIG_FILE"); f != "" {
			files[0] = f
		}
		if f := os.Getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
			files[1] = f
		}
	}
	return strings.Join(files, " and ")
}

// profileSource says where the profile's name came from.
func profileSource(o Options) string {
	if o.Profile != "" {
		return "named by --profile"
	}
	if os.Getenv("AWS_PROFILE") != "" {
		return "named by AWS_PROFILE"
	}
	return "named by AWS_DEFAULT_PROFILE"
}
