package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/custody-ir/custody/internal/config"
)

// DefaultConfigFile is read when neither --config nor CUSTODY_CONFIG names
// a file and it exists in the working directory.
const DefaultConfigFile = "custody.yaml"

// ConfigSource says where the configuration comes from and which flags
// override which keys.
type ConfigSource struct {
	// File is --config; empty means $CUSTODY_CONFIG, then ./custody.yaml.
	File string
	// FileFrom says what named File, for messages ("--config" when empty).
	FileFrom string
	// Flags and Bindings map config keys to flags that override them when
	// set on the command line (flags > env > file > defaults).
	Flags    *pflag.FlagSet
	Bindings map[string]string // config key -> flag name
	// Getenv reads the environment (os.Getenv when nil).
	Getenv func(string) string
}

func (s ConfigSource) getenv(k string) string {
	if s.Getenv == nil {
		return os.Getenv(k)
	}
	return s.Getenv(k)
}

// ResolveFile returns the config file to read and whether it was asked for
// explicitly (a missing explicit file is an error; a missing default is not).
func (s ConfigSource) ResolveFile() (path string, explicit bool) {
	path, from := s.resolve()
	return path, from != ""
}

// resolve returns the config file and what named it: the flag, the
// environment variable, or "" for the default ./custody.yaml.
func (s ConfigSource) resolve() (path, from string) {
	if s.File != "" {
		from = s.FileFrom
		if from == "" {
			from = "--config"
		}
		return s.File, from
	}
	if f := s.getenv("CUSTODY_CONFIG"); f != "" {
		return f, "$CUSTODY_CONFIG"
	}
	return DefaultConfigFile, ""
}

// EnvName is the environment variable that overrides a config key:
// store.retention.days is CUSTODY_STORE_RETENTION_DAYS.
func EnvName(key string) string {
	return "CUSTODY_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// LoadConfig reads the configuration with a local viper instance into the
// typed struct. It returns config.Problems (every unknown key, decoding
// error and invalid field, each with where its value came from) when the
// result is not usable, and a UsageError when an explicitly named file
// does not exist; both are exit 2.
func LoadConfig(s ConfigSource) (config.Config, error) {
	v := viper.New()
	for k, d := range config.Defaults() {
		v.SetDefault(k, d)
	}
	path, from := s.resolve()
	fileFound := true
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		var notFound viper.ConfigFileNotFoundError
		var parse viper.ConfigParseError
		switch {
		case errors.As(err, &notFound), errors.Is(err, fs.ErrNotExist):
			if from != "" {
				return config.Config{}, UsageError{Err: fmt.Errorf("config file %s (named by %s): %w", path, from, fs.ErrNotExist)}
			}
			fileFound = false
		case errors.As(err, &parse):
			return config.Config{}, config.Problems{{Path: path, Message: "not valid YAML: " + err.Error()}}
		default:
			return config.Config{}, config.Problems{{Path: path, Message: "cannot read the file: " + err.Error()}}
		}
	}
	v.SetEnvPrefix("CUSTODY")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if s.Flags != nil {
		for key, name := range s.Bindings {
			if f := s.Flags.Lookup(name); f != nil {
				if err := v.BindPFlag(key, f); err != nil {
					return config.Config{}, fmt.Errorf("bind flag --%s: %w", name, err)
				}
			}
		}
	}

	problems := config.UnknownKeys(v.AllSettings())
	var cfg config.Config
	decodeErr := v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		stringToTimeHook,
		mapstructure.StringToSliceHookFunc(","),
	)))
	if decodeErr != nil {
		for _, p := range decodeProblems(decodeErr) {
			// mapstructure says what it expected, not what it got.
			if raw, ok := v.Get(p.Path).(string); ok && !strings.Contains(p.Message, raw) {
				p.Message += fmt.Sprintf(" (got %q)", raw)
			}
			problems = append(problems, p)
		}
	}
	if cfg.Agent.Stream == "" {
		cfg.Agent.Stream = defaultStream()
	}
	// Report every problem at once: a field that failed to decode is not
	// validated again.
	seen := map[string]bool{}
	for _, p := range problems {
		seen[p.Path] = true
	}
	for _, p := range config.Validate(cfg) {
		if !seen[p.Path] {
			problems = append(problems, p)
		}
	}
	if len(problems) == 0 {
		return cfg, nil
	}
	for i := range problems {
		problems[i].Source = s.origin(v, problems[i].Path, path)
	}
	if !fileFound {
		// Nothing named a file and there is none here: say where we
		// looked, first, since that is the likely cause of the rest.
		wd, _ := os.Getwd()
		problems = append(config.Problems{{Path: "(config file)", Message: fmt.Sprintf(
			"none found: --config was not given, $CUSTODY_CONFIG is not set, and there is no ./%s in %s", DefaultConfigFile, wd)}}, problems...)
	}
	return cfg, problems
}

// origin says where the value at a problem's path came from, with the
// precedence viper applies: a flag set on the command line, then the
// environment, then the file, then the defaults. Items of lists ([i])
// come from wherever the list did.
func (s ConfigSource) origin(v *viper.Viper, path, file string) string {
	key := strings.ToLower(path)
	if i := strings.IndexByte(key, '['); i >= 0 {
		key = key[:i]
	}
	if name, ok := s.Bindings[key]; ok && s.Flags != nil {
		if f := s.Flags.Lookup(name); f != nil && f.Changed {
			return "--" + name
		}
	}
	if _, known := config.Defaults()[key]; (known || v.InConfig(key)) && s.getenv(EnvName(key)) != "" {
		return EnvName(key)
	}
	if v.InConfig(key) {
		return file
	}
	if d, known := config.Defaults()[key]; known && !reflect.ValueOf(d).IsZero() {
		return config.SourceDefault
	}
	return ""
}

// stringToTimeHook accepts RFC 3339 strings (YAML leaves quoted times as
// strings) and times the YAML parser already decoded.
func stringToTimeHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(time.Time{}) || from.Kind() != reflect.String {
		return data, nil
	}
	s := data.(string)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("an RFC 3339 time expected (2026-01-02T15:04:05Z), got %q", s)
	}
	return t, nil
}

// decodeProblems turns mapstructure's joined errors into problems, one per
// line, keeping the field name mapstructure puts in quotes.
func decodeProblems(err error) config.Problems {
	var ps config.Problems
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		// Unknown keys are reported by config.UnknownKeys, with full paths.
		if line == "" || strings.HasPrefix(line, "decoding failed") || strings.Contains(line, "has invalid keys") {
			continue
		}
		path := "(config)"
		if strings.HasPrefix(line, "'") {
			if j := strings.Index(line[1:], "'"); j >= 0 {
				path = line[1 : 1+j]
				line = strings.TrimSpace(line[2+j:])
			}
		}
		ps = append(ps, config.Problem{Path: path, Message: line})
	}
	return ps
}

func defaultStream() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "agent"
	}
	h = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, h)
	if len(h) > 64 {
		h = h[:64]
	}
	return h
}
