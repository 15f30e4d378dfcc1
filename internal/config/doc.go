// Package config defines the typed configuration of custody and recover,
// its defaults and its validation.
//
// The command layer (cmd/) reads one YAML file, CUSTODY_* environment
// variables and flags with a local viper instance and decodes them into
// Config; this package never reads files, the environment or globals.
// Validate and UnknownKeys return every problem with the dotted path of the
// field, so `custody config check` can print them all at once.
package config
