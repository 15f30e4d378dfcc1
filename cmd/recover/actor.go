package main

import (
	"context"
	"fmt"
	"time"

	"github.com/custody-ir/custody/cmd/internal/cli"
	recovery "github.com/custody-ir/custody/recover"
	"github.com/custody-ir/custody/search"
)

// actorMode reports whether the flags ask to undo one actor.
func (o *recoverOptions) actorMode() bool { return len(o.accessKeys) > 0 || len(o.principals) > 0 }

// actorPlan plans undoing the actor's writes since T (and until --until),
// from the writes to the bucket the sealed CloudTrail data events record.
func (s *session) actorPlan(ctx context.Context, since time.Time) (*recovery.Plan, error) {
	o := s.o
	until := s.g.now()
	if o.until != "" {
		t, err := recovery.ParseTime("--until", o.until, s.g.now())
		if err != nil {
			return nil, cli.UsageError{Err: err}
		}
		until = t
	}
	writes, err := s.writes(ctx, since, until)
	if err != nil {
		return nil, err
	}
	actor := recovery.DescribeActor(o.accessKeys, o.principals)
	n := 0
	for _, w := range writes {
		if w.Actor {
			n++
		}
	}
	fmt.Fprintf(s.g.stderr, "the sealed evidence records %d write(s) to s3://%s from %s to %s, %d of them by %s\n",
		len(writes), o.bucket, since.Format(time.RFC3339), until.Format(time.RFC3339), n, actor)
	plan, err := recovery.PlanActor(ctx, s.api, o.bucket, recovery.ActorOptions{Actor: actor, Writes: writes, Since: since, Until: until, Prefix: o.prefix})
	if err != nil {
		return nil, refuse(err)
	}
	return plan, nil
}

// writes reads every write to the bucket in [since, until] from the
// sealed CloudTrail logs, marking the actor's.
func (s *session) writes(ctx context.Context, since, until time.Time) ([]recovery.Write, error) {
	return cli.SealedWrites(ctx, *s.cfg, s.g.now, s.o.bucket, search.Filter{AccessKeys: s.o.accessKeys, Principals: s.o.principals}, since, until)
}
