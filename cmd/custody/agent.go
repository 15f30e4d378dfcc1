package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/custody-ir/custody/cmd/internal/cli"
	"github.com/custody-ir/custody/collector"
)

func newAgentCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the always-on agent: every collector on its schedule",
		Long: `Run every configured collector on its cron schedule (schedules: in the
config), each run sealed in this agent's chain. Runs of one collector never
overlap; a failing source never stops the others. /healthz and Prometheus
/metrics are served on agent.listen. SIGINT or SIGTERM stop the agent: runs in
flight are sealed before it exits, and the next start reseals anything a
crash left behind. Logs are JSON lines on stderr (agent.log_json).`,
		Args: cli.NoArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(cmd, map[string]string{"agent.listen": "listen"})
			if err != nil {
				return err
			}
			var h slog.Handler = slog.NewJSONHandler(g.stderr, nil)
			if !cfg.Agent.LogJSON {
				h = slog.NewTextHandler(g.stderr, nil)
			}
			log := slog.New(h).With("stream", cfg.Agent.Stream)
			ctx := cmd.Context()
			ev, cs, err := openCollectors(ctx, g, cfg)
			if err != nil {
				return err
			}
			defer ev.Close()
			jitter, _ := time.ParseDuration(cfg.Schedules.Jitter)
			a := &collector.Agent{
				Chain: ev.Chain, Collectors: cs, Schedules: cfg.Schedules, Jitter: jitter, Log: log,
			}
			if cfg.Agent.Listen != "" {
				stop, err := serve(ctx, cfg.Agent.Listen, a.Handler(), log)
				if err != nil {
					return err
				}
				defer stop()
			}
			log.Info("agent started", "collectors", len(cs), "bucket", cfg.Store.Bucket)
			err = a.Run(ctx)
			log.Info("agent stopped")
			return err
		},
	}
	cmd.Flags().String("listen", "", "address of /healthz and /metrics (overrides agent.listen)")
	return cmd
}

// serve starts the health and metrics server; only loopback addresses are
// accepted, so nothing about the evidence is exposed beyond the host.
func serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger) (func(), error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, cli.Usagef("agent.listen %q: %v", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, cli.Usagef("agent.listen %q is not a loopback address; put a proxy in front to expose metrics", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
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
		srv.Shutdown(sctx)
	}, nil
}
