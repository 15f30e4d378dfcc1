package collector

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/custody/config"
)

// Agent runs collectors on their schedules: no two runs of one collector
// overlap, each run starts after a random jitter, and a collector that
// fails never stops the others.
type Agent struct {
	Chain      *custody.Chain
	Collectors []Collector
	Schedules  config.Schedules
	Jitter     time.Duration
	Log        *slog.Logger
	// Grace bounds how long Run waits for runs in flight after ctx ends;
	// their artifacts are sealed regardless (RunOne seals on shutdown).
	Grace time.Duration

	metrics  *metrics
	mu       sync.Mutex
	resealMu sync.Mutex // one reseal at a time
	unsealed []string   // runs whose seal failed, resealed before the next run
	status   map[string]collectorStatus
}

type collectorStatus struct {
	LastRun     time.Time `json:"lastRun,omitzero"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	Runs        int       `json:"runs"`
	Failures    int       `json:"failures"`
}

type metrics struct {
	reg         *prometheus.Registry
	lastSuccess *prometheus.GaugeVec
	failures    *prometheus.CounterVec
	runs        *prometheus.CounterVec
	artifacts   prometheus.Counter
	bytes       prometheus.Counter
	chainLength prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "custody_collector_last_success_timestamp_seconds",
			Help: "Unix time of the collector's last successful, sealed run."}, []string{"collector"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custody_collector_failures_total",
			Help: "Runs of the collector that failed (what they stored is sealed all the same)."}, []string{"collector"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "custody_collector_runs_total",
			Help: "Runs of the collector."}, []string{"collector"}),
		artifacts: prometheus.NewCounter(prometheus.CounterOpts{Name: "custody_artifacts_sealed_total", Help: "Artifacts stored and sealed."}),
		bytes:     prometheus.NewCounter(prometheus.CounterOpts{Name: "custody_bytes_sealed_total", Help: "Bytes of artifacts stored and sealed."}),
		chainLength: prometheus.NewGauge(prometheus.GaugeOpts{Name: "custody_chain_length",
			Help: "Sequence number of this agent's newest manifest."}),
	}
	m.reg.MustRegister(m.lastSuccess, m.failures, m.runs, m.artifacts, m.bytes, m.chainLength,
		// go_goroutines, go_memstats_*, process_resident_memory_bytes,
		// process_open_fds: what a long-running daemon is watched by.
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (a *Agent) init() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.metrics == nil {
		a.metrics = newMetrics()
		a.status = map[string]collectorStatus{}
	}
	if a.Log == nil {
		a.Log = slog.New(slog.DiscardHandler)
	}
}

func (a *Agent) schedule(kind string) string {
	switch kind {
	case "cloudtrail":
		return a.Schedules.CloudTrail
	case "config":
		return a.Schedules.Config
	case "posture":
		return a.Schedules.Posture
	case "versions":
		return a.Schedules.Versions
	}
	return ""
}

// Run schedules every collector and blocks until ctx ends, then waits (up
// to Grace) for runs in flight.
func (a *Agent) Run(ctx context.Context) error {
	a.init()
	c := cron.New(cron.WithParser(config.CronParser), cron.WithLocation(time.UTC))
	for _, col := range a.Collectors {
		expr := a.schedule(col.Kind())
		if expr == "" {
			a.Log.Info("collector disabled: no schedule", "collector", col.Name())
			continue
		}
		job := cron.NewChain(cron.SkipIfStillRunning(cronLogger{a.Log})).Then(cron.FuncJob(func() { a.runOnce(ctx, col) }))
		if _, err := c.AddJob(expr, job); err != nil {
			return err
		}
		a.Log.Info("collector scheduled", "collector", col.Name(), "schedule", expr)
	}
	c.Start()
	<-ctx.Done()
	a.Log.Info("stopping: waiting for runs in flight")
	done := c.Stop()
	grace := a.Grace
	if grace == 0 {
		grace = 2 * time.Minute
	}
	select {
	case <-done.Done():
	case <-time.After(grace):
		a.Log.Warn("runs still in flight after the grace period; the next start reseals what they stored")
	}
	return nil
}

func (a *Agent) runOnce(ctx context.Context, col Collector) {
	if a.Jitter > 0 {
		select {
		case <-time.After(rand.N(a.Jitter)):
		case <-ctx.Done():
			return
		}
	}
	if ctx.Err() != nil {
		return
	}
	a.resealFailed(ctx)
	name := col.Name()
	start := time.Now()
	res, err := RunOne(ctx, a.Chain, col)
	if errors.Is(err, ErrUnsealed) {
		a.mu.Lock()
		a.unsealed = append(a.unsealed, res.Run)
		a.mu.Unlock()
	}
	if err != nil && ctx.Err() != nil {
		// Stopping: what the run stored is sealed (RunOne seals on
		// shutdown), and the next start picks up from the cursor.
		a.Log.Info("run interrupted by shutdown", "collector", name, "run", res.Run, "err", err)
		return
	}
	a.mu.Lock()
	st := a.status[name]
	st.LastRun, st.Runs = start.UTC(), st.Runs+1
	a.metrics.runs.WithLabelValues(name).Inc()
	if res.Manifest > 0 {
		a.metrics.chainLength.Set(float64(res.Manifest))
		a.metrics.artifacts.Add(float64(res.Artifacts))
		a.metrics.bytes.Add(float64(res.Bytes))
	}
	if err != nil {
		st.Failures++
		st.LastError = err.Error()
		a.metrics.failures.WithLabelValues(name).Inc()
	} else {
		st.LastSuccess, st.LastError = time.Now().UTC(), ""
		a.metrics.lastSuccess.WithLabelValues(name).Set(float64(st.LastSuccess.Unix()))
	}
	a.status[name] = st
	a.mu.Unlock()
	if err != nil {
		a.Log.Error("collection failed", "collector", name, "run", res.Run, "manifest", res.Manifest, "err", err)
		return
	}
	a.Log.Info("collected", "collector", name, "run", res.Run, "manifest", res.Manifest, "artifacts", res.Artifacts,
		"bytes", res.Bytes, "findings", res.Findings, "took", time.Since(start).Round(time.Millisecond).String())
}

// resealFailed seals what earlier runs stored but could not seal.
func (a *Agent) resealFailed(ctx context.Context) {
	a.resealMu.Lock()
	defer a.resealMu.Unlock()
	a.mu.Lock()
	ids := a.unsealed
	a.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	n, err := a.Chain.ResealRuns(ctx, ids)
	if err != nil {
		a.Log.Error("resealing runs that could not seal", "runs", ids, "err", err)
		return
	}
	a.mu.Lock()
	a.unsealed = a.unsealed[len(ids):]
	a.mu.Unlock()
	a.Log.Info("resealed runs that could not seal", "runs", ids, "artifacts", n)
}

// Handler serves /healthz (JSON status of every collector) and /metrics
// (Prometheus).
func (a *Agent) Handler() http.Handler {
	a.init()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		a.mu.Lock()
		st := make(map[string]collectorStatus, len(a.status))
		for k, v := range a.status {
			st[k] = v
		}
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(struct {
			Status     string                     `json:"status"`
			Collectors map[string]collectorStatus `json:"collectors"`
		}{"ok", st})
	})
	return mux
}

type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
