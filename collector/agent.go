package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/config"
)

// DefaultUnhealthyAfter is how many failed runs in a row of one source
// make /healthz report the agent degraded, unless Agent.UnhealthyAfter
// says otherwise.
const DefaultUnhealthyAfter = 3

// Agent runs collectors on their schedules: no two runs of one collector
// overlap, each run starts after a random jitter, and a collector that
// fails never stops the others. A Discoverer among the collectors is
// discovered on its schedule, before each run of what it found: a failed
// discovery is that source's failed run, and what an earlier discovery
// found is collected all the same.
type Agent struct {
	Chain      *custody.Chain
	Collectors []Collector
	Schedules  config.Schedules
	Jitter     time.Duration
	Log        *slog.Logger
	// Grace bounds how long Run waits for runs in flight after ctx ends;
	// their artifacts are sealed regardless (RunOne seals on shutdown).
	Grace time.Duration
	// UnhealthyAfter is how many failed runs in a row of one source make
	// /healthz answer 503 (default DefaultUnhealthyAfter).
	UnhealthyAfter int
	// Now is the clock (required): when runs start and succeed, as
	// /healthz and the metrics report them.
	Now func() time.Time
	// Heartbeat, if set, is how often the agent writes a checkpoint of
	// its stream with nothing new, so that verify can tell a live stream
	// from a cut one (stream-stale). A graceful stop closes the stream.
	Heartbeat time.Duration
	// LogIndex, if set, indexes the log files runs store, for custody
	// search (logindex.go).
	LogIndex LogIndexer

	metrics    *metrics
	mu         sync.Mutex
	resealMu   sync.Mutex // one reseal at a time
	unsealed   []string   // runs whose seal failed, resealed before the next run
	status     map[string]collectorStatus
	discovered map[string][]Collector // by discoverer: what its last successful discovery found
	accounts   map[string]string      // by source: the account it collects from (agent_accounts.go)
}

type collectorStatus struct {
	LastRun             time.Time `json:"lastRun,omitzero"`
	LastSuccess         time.Time `json:"lastSuccess,omitzero"`
	LastError           string    `json:"lastError,omitempty"`
	Runs                int       `json:"runs"`
	Failures            int       `json:"failures"`
	ConsecutiveFailures int       `json:"consecutiveFailures"`
}

func (a *Agent) init() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.metrics == nil {
		a.metrics = newMetrics()
		a.status = map[string]collectorStatus{}
		a.discovered = map[string][]Collector{}
		a.accounts = map[string]string{}
		for _, c := range a.Collectors {
			if a.scheduleOf(c) != "" {
				a.addSource(c)
			}
		}
	}
	if a.Log == nil {
		a.Log = slog.New(slog.DiscardHandler)
	}
}

// addSource makes a source's status and series exist before its first
// run. Called with a.mu held.
func (a *Agent) addSource(c Collector) {
	if _, ok := a.status[c.Name()]; !ok {
		a.status[c.Name()] = collectorStatus{}
	}
	a.metrics.source(c.Name(), c.Kind())
	a.accounts[c.Name()] = accountOf(c)
	a.accountsHealth()
}

func (a *Agent) unhealthyAfter() int {
	if a.UnhealthyAfter > 0 {
		return a.UnhealthyAfter
	}
	return DefaultUnhealthyAfter
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
	case "findings":
		return a.Schedules.Findings
	case "accesslogs":
		return a.Schedules.AccessLogs
	case "iam":
		return a.Schedules.IAM
	case "kms":
		return a.Schedules.KMS
	}
	return ""
}

// scheduleOf is a collector's own schedule (the organization's account
// list has one), else its kind's.
func (a *Agent) scheduleOf(c Collector) string {
	if s, ok := c.(interface{ Schedule() string }); ok {
		return s.Schedule()
	}
	return a.schedule(c.Kind())
}

// Run schedules every collector and blocks until ctx ends, then waits (up
// to Grace) for runs in flight.
func (a *Agent) Run(ctx context.Context) error {
	if a.Now == nil {
		return errors.New("collector agent: no clock (Agent.Now is nil)")
	}
	a.init()
	c := cron.New(cron.WithParser(config.CronParser), cron.WithLocation(time.UTC))
	for _, col := range a.Collectors {
		expr := a.scheduleOf(col)
		if expr == "" {
			a.Log.Info("collector disabled: no schedule", "collector", col.Name())
			continue
		}
		job := cron.NewChain(cron.SkipIfStillRunning(cronLogger{a.Log})).Then(cron.FuncJob(func() { a.runJob(ctx, col) }))
		if _, err := c.AddJob(expr, job); err != nil {
			return err
		}
		a.Log.Info("collector scheduled", "collector", col.Name(), "schedule", expr)
	}
	if a.Heartbeat > 0 {
		a.Chain.SetHeartbeat(a.Heartbeat)
		beat := func() {
			if err := a.Chain.Heartbeat(ctx); err != nil && ctx.Err() == nil {
				a.Log.Error("heartbeat checkpoint failed", "stream", a.Chain.Stream(), "err", err)
			}
		}
		if _, err := c.AddJob(fmt.Sprintf("@every %s", a.Heartbeat), cron.NewChain(cron.SkipIfStillRunning(cronLogger{a.Log})).Then(cron.FuncJob(beat))); err != nil {
			return err
		}
		beat() // the promise holds from the start
	}
	c.Start()
	<-ctx.Done()
	a.Log.Info("stopping: waiting for runs in flight")
	done := c.Stop()
	if a.Heartbeat > 0 {
		defer a.close()
	}
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

// close writes a closed checkpoint of the agent's stream on a graceful
// stop: nothing more is promised, so the stop is not a stale stream. (A
// lost host closes nothing: its stream goes stale, as it should.)
func (a *Agent) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a.Chain.SetHeartbeat(0)
	if err := a.Chain.Heartbeat(ctx); err != nil {
		a.Log.Warn("closing the stream's checkpoint failed: verify will report it stale until the agent runs again", "stream", a.Chain.Stream(), "err", err)
	}
}

// runJob is one scheduled run of a collector: after the jitter, a
// discoverer discovers, then each collector runs.
func (a *Agent) runJob(ctx context.Context, col Collector) {
	if a.Jitter > 0 {
		select {
		case <-time.After(rand.N(a.Jitter)):
		case <-ctx.Done():
			return
		}
	}
	d, ok := col.(Discoverer)
	if !ok {
		a.runOnce(ctx, col)
		return
	}
	if ctx.Err() != nil {
		return
	}
	found, err := d.Discover(ctx)
	if err != nil && ctx.Err() != nil {
		return
	}
	a.mu.Lock()
	if err == nil {
		a.discovered[d.Name()] = found
		for _, c := range found {
			a.addSource(c)
		}
	} else {
		found = a.discovered[d.Name()]
	}
	a.mu.Unlock()
	if err != nil {
		// Sealed as that source's failed run; what an earlier discovery
		// found is still collected.
		a.runOnce(ctx, &Failed{Source: d, Err: err})
	} else {
		a.record(d.Name(), a.Now(), nil)
		a.Log.Info("discovered", "collector", d.Name(), "found", len(found))
	}
	for _, c := range found {
		a.runOnce(ctx, c)
	}
}

func (a *Agent) runOnce(ctx context.Context, col Collector) {
	if ctx.Err() != nil {
		return
	}
	a.resealFailed(ctx)
	name := col.Name()
	start := a.Now()
	res, err := RunOne(ctx, a.Chain, col, IndexLogs(a.LogIndex))
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
	if res.Manifest > 0 {
		a.metrics.chainLength.Set(float64(res.Manifest))
		a.metrics.artifacts.Add(float64(res.Artifacts))
		a.metrics.bytes.Add(float64(res.Bytes))
	}
	for _, f := range res.Found {
		a.metrics.findings.WithLabelValues(string(f.Kind), string(f.Severity), name).Inc()
	}
	a.mu.Unlock()
	a.record(name, start, err)
	a.logFindings(name, res)
	if err != nil {
		a.Log.Error("collection failed", "collector", name, "run", res.Run, "manifest", res.Manifest, "err", err)
		return
	}
	a.Log.Info("collected", "collector", name, "run", res.Run, "manifest", res.Manifest, "artifacts", res.Artifacts,
		"bytes", res.Bytes, "findings", res.Findings, "took", a.Now().Sub(start).Round(time.Millisecond).String())
}

// record counts a run of a source (or a discovery) and its outcome.
func (a *Agent) record(name string, start time.Time, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.status[name]
	st.LastRun, st.Runs = start.UTC(), st.Runs+1
	a.metrics.runs.WithLabelValues(name).Inc()
	if err != nil {
		st.Failures++
		st.ConsecutiveFailures++
		st.LastError = err.Error()
		a.metrics.failures.WithLabelValues(name).Inc()
	} else {
		st.LastSuccess, st.LastError, st.ConsecutiveFailures = a.Now().UTC(), "", 0
		a.metrics.lastSuccess.WithLabelValues(name).Set(float64(st.LastSuccess.Unix()))
	}
	a.metrics.consecutive.WithLabelValues(name).Set(float64(st.ConsecutiveFailures))
	a.status[name] = st
	degraded := 0.0
	if len(a.failing()) > 0 {
		degraded = 1
	}
	a.metrics.degraded.Set(degraded)
	a.accountsHealth()
}

// logFindings logs each finding a run sealed, one line each: failures as
// errors, warnings as warnings.
func (a *Agent) logFindings(name string, res Result) {
	for _, f := range res.Found {
		level := slog.LevelWarn
		if f.Severity == custody.SeverityFailure {
			level = slog.LevelError
		}
		attrs := []any{"collector", name, "source", name, "kind", f.Kind, "severity", string(f.Severity), "object", f.Object,
			"message", f.Message, "run", res.Run, "manifest", res.Manifest}
		if f.Remedy != "" {
			attrs = append(attrs, "remedy", f.Remedy)
		}
		a.Log.Log(context.Background(), level, "finding", attrs...)
	}
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

// failingSource is a source /healthz names as failing.
type failingSource struct {
	Collector           string `json:"collector"`
	ConsecutiveFailures int    `json:"consecutiveFailures"`
	LastError           string `json:"lastError"`
}

// failing lists the sources that failed their last UnhealthyAfter runs in
// a row, by name. Called with a.mu held.
func (a *Agent) failing() []failingSource {
	var out []failingSource
	for name, st := range a.status {
		if st.ConsecutiveFailures >= a.unhealthyAfter() {
			out = append(out, failingSource{Collector: name, ConsecutiveFailures: st.ConsecutiveFailures, LastError: st.LastError})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Collector < out[j].Collector })
	return out
}

// Handler serves /healthz and /metrics (Prometheus). /healthz answers 200
// with every collector's status, or 503 "degraded" naming the sources
// that failed their last UnhealthyAfter runs in a row, with their last
// error.
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
		failing := a.failing()
		accounts := a.accountsHealth()
		a.mu.Unlock()
		status, code := "ok", http.StatusOK
		if len(failing) > 0 {
			status, code = "degraded", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(struct { // the status is sent: a client gone is no one's error
			Status         string                     `json:"status"`
			UnhealthyAfter int                        `json:"unhealthyAfter"`
			Failing        []failingSource            `json:"failing,omitempty"`
			Collectors     map[string]collectorStatus `json:"collectors"`
			Accounts       map[string]accountHealth   `json:"accounts"`
		}{status, a.unhealthyAfter(), failing, st, accounts})
	})
	return mux
}

type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
