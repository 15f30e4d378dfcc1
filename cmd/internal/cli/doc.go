// Package cli holds what custody's two binaries share: loading the typed
// configuration with a local viper instance, exit codes, version info and
// the text/JSON printer. Domain logic stays in collector, custody and
// recover; nothing here is imported by them.
package cli
