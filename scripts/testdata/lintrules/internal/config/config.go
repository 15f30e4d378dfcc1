// Package config stands for internal/config.
package config

// Config is a configuration.
type Config struct{}
