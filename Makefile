# Shortcuts for the scripts that do the work (each runs on its own too).
.PHONY: demo test lint bench reliability reliability-suite fuzz soak

demo:                 ## agent, verify and recover end to end on the local stand-ins
	scripts/demo
test:                 ## vet, gofmt, golangci-lint and the race-enabled tests (what CI runs)
	scripts/test
lint:                 ## golangci-lint with .golangci.yml (pinned, cached); LINT_STRICT=1 fails on issues
	scripts/lint
bench:                ## benchmarks against the local stand-ins
	scripts/bench
reliability:          ## the long reliability suite and fuzzing (docs/reliability.md)
	scripts/reliability all
reliability-suite:    ## faults, 60+60 crash trials and a 20-minute soak, no fuzzing
	scripts/reliability suite
fuzz:                 ## every fuzz target for FUZZTIME (default 60s) each
	scripts/fuzz
soak:                 ## the agent soak alone, for CUSTODY_SOAK (default 20m)
	CUSTODY_SOAK=$${CUSTODY_SOAK:-20m} CUSTODY_TEST_REQUIRE_SERVERS=1 go test -count=1 -timeout 2h -v -run TestSoak ./cmd/internal/reliability/
