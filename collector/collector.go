package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/custody-ir/custody/custody"
	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/ledger"
)

// Collector gathers one kind of evidence from one source (a bucket, a
// trail in a region, a Config delivery bucket) and stores it through a
// custody run, which seals it.
type Collector interface {
	// Name is "<kind>:<scope>", unique among the agent's collectors; it
	// names the run and the cursor.
	Name() string
	// Kind is the collector kind the schedule is configured under.
	Kind() string
	// Collect stores artifacts through run and returns what the manifest
	// should say about the collection. Findings are problems that did not
	// stop it (a setting that could not be read); an error stops the run,
	// whose stored artifacts are sealed all the same.
	Collect(ctx context.Context, run Run) (Outcome, error)
}

// Run is the part of a custody run a collector uses.
type Run interface {
	RunID() string
	Put(ctx context.Context, key string, body io.Reader, o custody.PutOptions) (custody.Artifact, error)
}

var _ Run = (*custody.Run)(nil)

// Outcome describes a finished collection for its manifest.
type Outcome struct {
	Account, Region        string
	WindowStart, WindowEnd time.Time
	Sources                []string
	Findings               []custody.Finding
	Description            string
	afterSeal              func(context.Context) error
}

// AfterSeal registers work that must wait until the manifest is written
// (advancing a cursor): a crash before it only repeats the collection.
func (o *Outcome) AfterSeal(f func(context.Context) error) { o.afterSeal = f }

// Result is one collector run's result.
type Result struct {
	Collector string `json:"collector"`
	Run       string `json:"run"`
	Manifest  int64  `json:"manifest"`
	Artifacts int    `json:"artifacts"`
	Bytes     int64  `json:"bytes"`
	Findings  int    `json:"findings"`
	Error     string `json:"error,omitempty"`
	// Found are the findings sealed in the manifest, for the agent's logs
	// and metrics.
	Found []custody.Finding `json:"-"`
}

// ErrUnsealed means a run stored artifacts but could not seal them; the
// agent reseals them before its next run (Chain.ResealRuns), and any
// process reseals them at start-up.
var ErrUnsealed = errors.New("run not sealed")

// RunOne runs c as one custody run: start, collect, seal (also on error),
// then the collector's after-seal step.
func RunOne(ctx context.Context, chain *custody.Chain, c Collector, opts ...RunOption) (Result, error) {
	res := Result{Collector: c.Name()}
	var ro runOptions
	for _, o := range opts {
		o(&ro)
	}
	run, err := chain.StartRun(ctx, c.Kind())
	if err != nil {
		return res, err
	}
	res.Run = run.ID
	out, cerr := c.Collect(ctx, ro.indexed(run))
	// Seal with a context that outlives a cancelled one: what was stored
	// must not stay unsealed because SIGTERM arrived mid-run.
	sealCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	req := custody.SealRequest{
		Event: custody.EventCollect, Collector: c.Name(), Description: out.Description, Sources: out.Sources,
		WindowStart: out.WindowStart, WindowEnd: out.WindowEnd, Account: out.Account, Region: out.Region, Findings: out.Findings,
	}
	// The SDK retries each call; sealing is tried again as a whole (it is
	// safe to repeat: a manifest that landed is adopted, not forked).
	var m ledger.Manifest
	for try := 0; ; try++ {
		if m, err = run.Seal(sealCtx, req, cerr); err == nil || try == 2 || sealCtx.Err() != nil || awsclient.AccessDenied(err) {
			break
		}
		select {
		case <-sealCtx.Done():
		case <-time.After(time.Duration(try+1) * 2 * time.Second):
		}
	}
	if ro.index != nil { // the search index (logindex.go), told last: its writes wait for the run's own
		sealed := err == nil
		defer func() {
			if sealed {
				ro.index.Sealed(run.ID)
			} else {
				ro.index.Unsealed(run.ID)
			}
		}()
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w: %w", c.Name(), ErrUnsealed, err)
	}
	res.Manifest, res.Findings, res.Found = m.Seq, len(out.Findings), out.Findings
	for _, a := range run.Artifacts() {
		res.Artifacts++
		res.Bytes += a.Size
	}
	if cerr != nil {
		res.Error = cerr.Error()
		return res, fmt.Errorf("%s: %w", c.Name(), cerr)
	}
	if out.afterSeal != nil {
		if err := out.afterSeal(sealCtx); err != nil {
			return res, fmt.Errorf("%s: after sealing: %w", c.Name(), err)
		}
	}
	return res, nil
}
