package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector"
	"github.com/custody-ir/custody/internal/config"
)

// agentOptions are agent's flags: none of its own (--listen and
// --unhealthy-after override the configuration, see agentBindings).
type agentOptions struct{}

// agentBindings map agent's configuration keys to the flags that override
// them.
var agentBindings = map[string]string{"agent.listen": "listen", "agent.unhealthy_after": "unhealthy-after"}

func newAgentCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the always-on agent: every collector on its schedule",
		Long: `Run every configured collector on its cron schedule (schedules: in the
config), each run sealed in this agent's chain. Runs of one collector never
overlap; a failing source never stops the others, and a source that must be
discovered (trails not listed in the config) is discovered on its schedule, a
failed discovery being that source's failed run.

/healthz and Prometheus /metrics are served on agent.listen (loopback only).
/healthz answers 503 "degraded", naming the sources and their last error, when
a source failed its last --unhealthy-after runs in a row. Every finding a run
seals is logged on its own line (failures as errors, warnings as warnings) and
counted in custody_findings_total; every series exists from the start, at zero.

SIGTERM stops the agent (exit 0), SIGINT interrupts it (exit 130): either way
runs in flight are sealed before it exits, and the next start reseals anything
a crash left behind. Logs are JSON lines on stderr (agent.log_json).

Exit codes: 0 stopped by SIGTERM, 2 usage or configuration error (agent.listen
not a loopback address, or already in use), 3 could not start or run (the
store, its lock, the ledger), 130 interrupted (SIGINT).`,
		Example: `  custody agent                                # as configured (configs/custody-agent.service runs this)
  custody agent --listen 127.0.0.1:9464        # /healthz and /metrics on this address
  curl -s 127.0.0.1:9464/healthz               # 200 ok, or 503 degraded naming the failing sources`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), agentOptions{}, g.deps(cmd, agentBindings))
		},
	}
	cmd.Flags().String("listen", "", "address of /healthz and /metrics (overrides agent.listen)")
	cmd.Flags().Int("unhealthy-after", collector.DefaultUnhealthyAfter, "failed runs in a row of one source that make /healthz answer 503 (overrides agent.unhealthy_after)")
	return cmd
}

// runAgent runs every configured collector on its schedule until the
// context ends, serving /healthz and /metrics on agent.listen.
func runAgent(ctx context.Context, _ agentOptions, d deps) error {
	// Which signal stops the agent decides its exit code; the context
	// main cancels on either does not say.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	cfg, err := d.config()
	if err != nil {
		return err
	}
	log := agentLogger(d.stderr, cfg)
	// Bind first: an address in use is a configuration error, reported
	// before anything is opened.
	ln, err := listen(cfg.Agent.Listen)
	if err != nil {
		return err
	}
	if ln != nil {
		defer ln.Close()
	}
	ev, cs, err := openCollectors(ctx, d, cfg, "")
	if err != nil {
		return err
	}
	defer ev.Close()
	jitter, _ := time.ParseDuration(cfg.Schedules.Jitter)
	a := &collector.Agent{
		Chain: ev.Chain, Collectors: cs, Schedules: cfg.Schedules, Jitter: jitter, Log: log, UnhealthyAfter: cfg.Agent.UnhealthyAfter,
		Now: d.now, Heartbeat: cfg.Agent.HeartbeatPeriod(),
	}
	var stopIndex func()
	a.LogIndex, stopIndex = startCollectIndex(ctx, ev, log) // custody search's index (searchindex.go)
	defer stopIndex()
	if ln != nil {
		defer serve(ctx, ln, a.Handler(), log)()
	}
	log.Info("agent started", "collectors", len(cs), "bucket", cfg.Store.Bucket)
	err = a.Run(ctx)
	if err == nil && interrupted(signals) {
		log.Info("agent interrupted")
		return context.Canceled
	}
	log.Info("agent stopped")
	return err
}

// agentLogger logs JSON lines (agent.log_json), else text, on w.
func agentLogger(w io.Writer, cfg config.Config) *slog.Logger {
	var h slog.Handler = slog.NewJSONHandler(w, nil)
	if !cfg.Agent.LogJSON {
		h = slog.NewTextHandler(w, nil)
	}
	return slog.New(h).With("stream", cfg.Agent.Stream)
}

// interrupted says whether SIGINT (rather than SIGTERM, or nothing) is
// what stopped the agent. The signal reaches this channel as it reaches
// main's context, so a short wait covers the two being delivered apart.
func interrupted(signals <-chan os.Signal) bool {
	select {
	case s := <-signals:
		return s == os.Interrupt
	case <-time.After(100 * time.Millisecond):
		return false
	}
}

// listen binds the health and metrics address; only loopback addresses
// are accepted, so nothing about the evidence is exposed beyond the host.
// An address in use is a usage error, naming it. No address: no listener.
func listen(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, cli.Usagef("agent.listen %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, cli.Usagef("agent.listen %q is not a loopback address; put a proxy in front to expose metrics", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, cli.Usagef("agent.listen %s: cannot listen (another agent or program uses the address?): %v", addr, err)
	}
	return ln, nil
}

// serve serves the health and metrics handler on ln until the returned
// function is called.
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) func() {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	log.Info("serving /healthz and /metrics", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("stopping the metrics server", "err", err)
		}
	}
}
