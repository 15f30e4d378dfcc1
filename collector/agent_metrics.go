package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/custody-ir/custody/custody/finding"
)

// metrics are what the agent exports on /metrics. Every series of a
// configured source exists from the start, at zero, so that an alert on
// an increase sees the first failure or finding.
type metrics struct {
	reg         *prometheus.Registry
	lastSuccess *prometheus.GaugeVec
	failures    *prometheus.CounterVec
	runs        *prometheus.CounterVec
	consecutive *prometheus.GaugeVec
	findings    *prometheus.CounterVec
	degraded    prometheus.Gauge
	artifacts   prometheus.Counter
	bytes       prometheus.Counter
	chainLength prometheus.Gauge
	// By account (agent_accounts.go).
	accountSources *prometheus.GaugeVec
	accountFailing *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "custody_collector_last_success_timestamp_seconds",
			Help: "Unix time of the collector's last successful, sealed run (of a discovery: its last successful discovery); 0 before the first."}, []string{"collector"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custody_collector_failures_total",
			Help: "Runs of the collector that failed (what they stored is sealed all the same), failed discoveries included."}, []string{"collector"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custody_collector_runs_total",
			Help: "Runs of the collector (of a discovery: its attempts)."}, []string{"collector"}),
		consecutive: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "custody_collector_consecutive_failures",
			Help: "Runs of the collector that failed in a row, up to its latest; 0 after a success."}, []string{"collector"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custody_findings_total",
			Help: "Findings sealed in the manifests of the source's runs, by kind and severity (failure or warning)."}, []string{"kind", "severity", "source"}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{Name: "custody_agent_degraded",
			Help: "1 while /healthz reports degraded: a source failed its last unhealthy-after runs in a row."}),
		artifacts: prometheus.NewCounter(prometheus.CounterOpts{Name: "custody_artifacts_sealed_total", Help: "Artifacts stored and sealed."}),
		bytes:     prometheus.NewCounter(prometheus.CounterOpts{Name: "custody_bytes_sealed_total", Help: "Bytes of artifacts stored and sealed."}),
		chainLength: prometheus.NewGauge(prometheus.GaugeOpts{Name: "custody_chain_length",
			Help: "Sequence number of this agent's newest manifest."}),
		accountSources: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "custody_account_sources",
			Help: "Sources the agent collects from the account (\"\" for sources of no one account, such as the organization's listing)."}, []string{"account"}),
		accountFailing: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "custody_account_failing_sources",
			Help: "Sources of the account that failed their last unhealthy-after runs in a row."}, []string{"account"}),
	}
	m.reg.MustRegister(m.lastSuccess, m.failures, m.runs, m.consecutive, m.findings, m.degraded, m.artifacts, m.bytes, m.chainLength, m.accountSources, m.accountFailing,
		// go_goroutines, go_memstats_*, process_resident_memory_bytes,
		// process_open_fds: what a long-running daemon is watched by.
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// source makes every series of a source exist, at zero.
func (m *metrics) source(name, kind string) {
	m.lastSuccess.WithLabelValues(name)
	m.failures.WithLabelValues(name)
	m.runs.WithLabelValues(name)
	m.consecutive.WithLabelValues(name)
	for _, k := range finding.Collected(kind) {
		m.findings.WithLabelValues(string(k.Kind), string(k.Severity), name)
	}
}
