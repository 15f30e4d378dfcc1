package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/custody-ir/custody/internal/awsclient"
	"github.com/custody-ir/custody/internal/ledger"
)

// applier is what applying a plan needs. Nothing here deletes data: the
// only deletes remove delete markers (named by version id) or add one.
type applier interface {
	lister
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	CopyObject(context.Context, *s3.CopyObjectInput, ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPartCopy(context.Context, *s3.UploadPartCopyInput, ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	GetObjectTagging(context.Context, *s3.GetObjectTaggingInput, ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	RestoreObject(context.Context, *s3.RestoreObjectInput, ...func(*s3.Options)) (*s3.RestoreObjectOutput, error)
}

var _ applier = (*s3.Client)(nil)

// Summary is what applying did.
type Summary struct {
	Job            string         `json:"job"`
	MarkersRemoved int            `json:"markersRemoved"`
	Copied         int            `json:"copied"`
	Hidden         int            `json:"hidden"`
	Reported       int            `json:"reported"`
	FromReplica    int            `json:"fromReplica"`
	Unrecoverable  []Action       `json:"unrecoverable"` // known to have existed at T, found nowhere
	Pending        []string       `json:"pending"`       // archived versions being restored: run --resume later
	Skipped        int            `json:"skipped"`       // done before a resume
	Total          int            `json:"total"`         // actions that change the bucket, to apply in this run
	Applied        int            `json:"applied"`       // of those, applied in this run
	Failed         []ActionResult `json:"failed"`
	Mismatched     []string       `json:"mismatched"` // keys not at their target state afterwards
	// Conflicts and Uncovered are recover --actor's keys left alone:
	// written by someone else after the actor, or changed in ways the
	// evidence does not cover.
	Conflicts []Action `json:"conflicts,omitempty"`
	Uncovered []Action `json:"uncovered,omitempty"`
}

// ActionResult is a failed action and why.
type ActionResult struct {
	Key   string     `json:"key"`
	Kind  ActionKind `json:"kind"`
	Error string     `json:"error"`
}

// Applier applies plans, journalling every action before it runs and
// marking it when done, so a killed run resumes without doing an action
// twice.
type Applier struct {
	API applier
	// Ledger is the journal: the custody ledger, or recover's own.
	Ledger      Journal
	Concurrency int
	// CopyLimit is the largest object CopyObject copies (S3's limit,
	// 5 GiB, when zero); larger ones are copied in parts of PartSize
	// (512 MiB when zero) with UploadPartCopy.
	CopyLimit, PartSize int64
	// Replica and ReplicaBucket serve replica-copy actions.
	Replica       replicaAPI
	ReplicaBucket string
	// Progress, if set, is called with 0 first, then as each action that
	// changes the bucket finishes (done, failed or pending), with the
	// number finished so far and the number to apply (Summary.Total).
	// Actions cut short by an interrupt are not counted.
	Progress func(done, total int)
	// Journalled, if set, is called once a new job and all its actions are
	// in the journal: from then on the job can be resumed.
	Journalled func(job string)
	// RestoreDays is how long a restored archival copy stays readable (7 when zero).
	RestoreDays int32
}

// Start journals plan as job and applies it.
func (ap *Applier) Start(ctx context.Context, job string, plan *Plan) (*Summary, error) {
	acts := make([]ledger.RecoveryAction, len(plan.Actions))
	for i, a := range plan.Actions {
		b, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		acts[i] = ledger.RecoveryAction{Seq: i, Kind: a.Kind, Key: a.Key, Detail: string(b), State: ledger.ActionPlanned}
	}
	opts, _ := json.Marshal(map[string]string{"prefix": plan.Prefix})
	if err := ap.Ledger.CreateRecoveryJob(ctx, job, plan.Bucket, plan.Prefix, plan.Target, string(opts), acts); err != nil {
		return nil, err
	}
	if ap.Journalled != nil {
		ap.Journalled(job)
	}
	return ap.apply(ctx, job, false)
}

// Resume applies the actions of a journalled job that are not done yet,
// checking first whether each already took effect before the crash.
func (ap *Applier) Resume(ctx context.Context, job string) (*Summary, error) {
	return ap.apply(ctx, job, true)
}

// Job is a journalled recovery job: its whole plan, and what is left.
type Job struct {
	ID string
	// Plan holds every action of the job, in journal order.
	Plan *Plan
	// Done marks, per action of Plan, whether the journal records it done.
	Done []bool
	seqs []int
}

// Remaining is the plan of the actions not recorded as done.
func (j *Job) Remaining() *Plan {
	r := &Plan{Bucket: j.Plan.Bucket, Prefix: j.Plan.Prefix, Target: j.Plan.Target, Actions: []Action{}}
	for i, a := range j.Plan.Actions {
		if !j.Done[i] {
			r.Actions = append(r.Actions, a)
		}
	}
	return r
}

// LoadJob reads a journalled job. It only reads the journal.
func LoadJob(ctx context.Context, l Journal, job string) (*Job, error) {
	bucket, prefix, target, acts, err := l.RecoveryJob(ctx, job)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, fmt.Errorf("%w: the journal %s has no such job, so nothing of it was applied; check --ledger, or run recover again without --resume", err, l.Path())
	}
	if err != nil {
		return nil, fmt.Errorf("read job %s from the journal %s: %w", job, l.Path(), err)
	}
	j := &Job{ID: job, Plan: &Plan{Bucket: bucket, Prefix: prefix, Target: target, Actions: make([]Action, 0, len(acts))}}
	for _, ra := range fairOrder(acts) {
		var a Action
		if err := json.Unmarshal([]byte(ra.Detail), &a); err != nil {
			return nil, fmt.Errorf("job %s action %d: %w", job, ra.Seq, err)
		}
		j.Plan.Actions = append(j.Plan.Actions, a)
		j.Done = append(j.Done, ra.State == ledger.ActionDone)
		j.seqs = append(j.seqs, ra.Seq)
	}
	return j, nil
}

// InterruptedError is returned when the context is cancelled while a job
// is applied: Done of Total actions that change the bucket had finished.
// The job resumes with --resume.
type InterruptedError struct {
	Job         string
	Done, Total int
	Err         error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("job %s interrupted after %d of %d actions: %v", e.Job, e.Done, e.Total, e.Err)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

func (ap *Applier) apply(ctx context.Context, job string, resuming bool) (*Summary, error) {
	j, err := LoadJob(ctx, ap.Ledger, job)
	if err != nil {
		return nil, err
	}
	bucket := j.Plan.Bucket
	sum := &Summary{Job: job, Failed: []ActionResult{}, Mismatched: []string{}, Unrecoverable: []Action{}, Pending: []string{}}
	for i, a := range j.Plan.Actions {
		if !j.Done[i] && isChange(a.Kind) {
			sum.Total++
		}
	}
	// finished counts the actions that change the bucket and came to an
	// end (done, failed or pending): never one cut short by an interrupt.
	var finished atomic.Int64
	var mu sync.Mutex
	done := newDoneMarks(ap.Ledger, job)
	defer done.close()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(ap.Concurrency, 1))
	if ap.Progress != nil {
		ap.Progress(0, sum.Total)
	}
	for i, a := range j.Plan.Actions {
		if j.Done[i] {
			sum.Skipped++
			continue
		}
		if ctx.Err() != nil {
			break // interrupted: schedule nothing more
		}
		// Any action not marked done may have taken effect before a
		// crash: do checks first where repeating it would not be a no-op.
		resumed := resuming
		seq := j.seqs[i]
		g.Go(func() error {
			if ctx.Err() != nil {
				return nil
			}
			err := ap.do(gctx, bucket, a, resumed)
			if err != nil && ctx.Err() != nil {
				// Cut short by the interrupt: not failed, not done. It
				// may have landed; a resume checks before repeating it.
				return nil
			}
			if isChange(a.Kind) {
				n := int(finished.Add(1))
				if ap.Progress != nil {
					ap.Progress(n, sum.Total)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, ErrPending) {
				sum.Pending = append(sum.Pending, a.Key)
				return ap.Ledger.SetRecoveryAction(context.WithoutCancel(gctx), job, seq, ledger.ActionPending, "")
			}
			if err != nil {
				sum.Failed = append(sum.Failed, ActionResult{Key: a.Key, Kind: a.Kind, Error: err.Error()})
				return ap.Ledger.SetRecoveryAction(context.WithoutCancel(gctx), job, seq, ledger.ActionFailed, err.Error())
			}
			switch a.Kind {
			case RemoveMarkers:
				sum.MarkersRemoved += len(a.Markers)
			case CopyBack:
				sum.Copied++
			case ReplicaCopy:
				sum.FromReplica++
			case HideNew:
				sum.Hidden++
			case ReportNew:
				sum.Reported++
			case Unrecoverable:
				sum.Unrecoverable = append(sum.Unrecoverable, a)
			case Conflict:
				sum.Conflicts = append(sum.Conflicts, a)
			case Uncovered:
				sum.Uncovered = append(sum.Uncovered, a)
			}
			if isChange(a.Kind) {
				sum.Applied++
			}
			done.add(seq)
			return nil
		})
	}
	werr := g.Wait()
	// Record what finished, interrupted or not: a resume skips it.
	derr := done.close()
	if ctx.Err() != nil {
		return sum, &InterruptedError{Job: job, Done: int(finished.Load()), Total: sum.Total, Err: ctx.Err()}
	}
	if werr != nil {
		return sum, werr
	}
	if derr != nil {
		return sum, derr
	}
	if err := ap.checkResult(ctx, j.Plan, sum); err != nil {
		return sum, err
	}
	status := ledger.JobDone
	switch {
	case len(sum.Failed) > 0 || len(sum.Mismatched) > 0:
		status = ledger.JobFailed
	case len(sum.Pending) > 0:
		status = ledger.JobPending
	}
	return sum, ap.Ledger.FinishRecoveryJob(ctx, job, status)
}

// do applies one action. On a resumed job (resumed) it first checks
// whether the action already took effect, so nothing is done twice.
func (ap *Applier) do(ctx context.Context, bucket string, a Action, resumed bool) error {
	b, k := aws.String(bucket), aws.String(a.Key)
	switch a.Kind {
	case ReportNew, Unrecoverable, Conflict, Uncovered:
		return nil
	}
	if a.IfCurrent != "" {
		// recover --actor: a key written since the plan (by the
		// application, say) is not touched. A resumed action that took
		// effect already is recognised first, below.
		if err := ap.stillCurrent(ctx, bucket, a, resumed); err != nil {
			return err
		}
	}
	switch a.Kind {
	case RemoveMarkers:
		// Deleting a version id that is already gone succeeds: safe to repeat.
		for _, m := range a.Markers {
			if _, err := ap.API.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k, VersionId: aws.String(m)}); err != nil {
				return fmt.Errorf("remove delete marker %s: %w", m, err)
			}
		}
		return nil
	case HideNew:
		if resumed {
			if hidden, err := ap.hidden(ctx, bucket, a); err != nil || hidden {
				return err
			}
		}
		return writeOnce(ctx, "hide "+a.Key, func(ctx context.Context) (bool, error) { return ap.hidden(ctx, bucket, a) },
			func(ctx context.Context) error {
				_, err := ap.API.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k}, noRetry)
				return err
			})
	case ReplicaCopy:
		if resumed {
			if ok, err := ap.restored(ctx, bucket, a); err != nil || ok {
				return err
			}
		}
		return ap.replicaCopy(ctx, bucket, a)
	case CopyBack:
		if resumed {
			if ok, err := ap.copied(ctx, bucket, a); err != nil || ok {
				return err
			}
		}
		return ap.copyBack(ctx, bucket, a)
	}
	return errors.New("unknown action " + string(a.Kind))
}

// ErrChangedSincePlan means a key was written after recover --actor
// planned it: the action is not applied.
var ErrChangedSincePlan = errors.New("the key was written since the plan: left alone; plan again")

// stillCurrent checks that the version an actor plan expects is still the
// key's current one. On a resumed job, an action that already took effect
// passes (its own check follows).
func (ap *Applier) stillCurrent(ctx context.Context, bucket string, a Action, resumed bool) error {
	live, err := keyHistory(ctx, ap.API, bucket, a.Key)
	if err != nil {
		return err
	}
	if len(live) > 0 && live[0].versionID == a.IfCurrent {
		return nil
	}
	if resumed {
		return nil // the action's own check (copied, hidden) decides
	}
	cur := "nothing"
	if len(live) > 0 {
		cur = "version " + live[0].versionID
	}
	return fmt.Errorf("%w (planned over version %s, now %s)", ErrChangedSincePlan, a.IfCurrent, cur)
}

// hidden reports whether a new key is hidden (its current version is a
// delete marker, or it is gone).
func (ap *Applier) hidden(ctx context.Context, bucket string, a Action) (bool, error) {
	_, err := ap.API.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(a.Key)})
	switch {
	case err == nil:
		return false, nil
	case awsclient.NotFound(err):
		return true, nil
	}
	return false, fmt.Errorf("check whether %s is hidden: %w", a.Key, err)
}

// restored reports whether the replica's copy of a version is current.
func (ap *Applier) restored(ctx context.Context, bucket string, a Action) (bool, error) {
	h, err := ap.API.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(a.Key)})
	switch {
	case awsclient.NotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check whether %s was restored: %w", a.Key, err)
	}
	return aws.ToString(h.ETag) == a.ETag && aws.ToInt64(h.ContentLength) == a.Size, nil
}

// copied reports whether a copy of the target version is already the
// current version (made before a crash, or by a try whose answer was lost).
func (ap *Applier) copied(ctx context.Context, bucket string, a Action) (bool, error) {
	h, err := ap.API.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(a.Key)})
	switch {
	case awsclient.NotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check whether %s was copied back: %w", a.Key, err)
	}
	return aws.ToString(h.VersionId) != a.VersionID && aws.ToInt64(h.ContentLength) == a.Size &&
		(aws.ToString(h.ETag) == a.ETag || strings.Contains(a.ETag, "-")) && h.LastModified != nil && h.LastModified.After(a.At), nil
}

// escapeKey URL-encodes a key for x-amz-copy-source, keeping its slashes.
// '+' is legal in a path but some servers read it as a space.
func escapeKey(k string) string {
	segs := strings.Split(k, "/")
	for i, seg := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(seg), "+", "%2B")
	}
	return strings.Join(segs, "/")
}

// doneMarks journals finished actions in batches: one transaction per
// batch instead of one per action. A crash may lose the newest marks; those
// actions are checked before anything is repeated on resume.
type doneMarks struct {
	l      Journal
	job    string
	mu     sync.Mutex
	seqs   []int
	err    error
	closed bool
}

func newDoneMarks(l Journal, job string) *doneMarks { return &doneMarks{l: l, job: job} }

func (d *doneMarks) add(seq int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seqs = append(d.seqs, seq)
	if len(d.seqs) >= 256 {
		d.flushLocked()
	}
}

func (d *doneMarks) flushLocked() {
	if len(d.seqs) == 0 || d.err != nil {
		return
	}
	d.err = d.l.MarkRecoveryActionsDone(context.Background(), d.job, d.seqs)
	d.seqs = d.seqs[:0]
}

func (d *doneMarks) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.flushLocked()
		d.closed = true
	}
	return d.err
}

// fairOrder interleaves actions across top-level prefixes, so that one
// prefix with many keys (S3 limits request rates per prefix) does not hold
// up the others or draw all of the throttling.
func fairOrder(acts []ledger.RecoveryAction) []ledger.RecoveryAction {
	var order []string
	byPrefix := map[string][]ledger.RecoveryAction{}
	for _, a := range acts {
		p, _, _ := strings.Cut(a.Key, "/")
		if _, ok := byPrefix[p]; !ok {
			order = append(order, p)
		}
		byPrefix[p] = append(byPrefix[p], a)
	}
	if len(order) < 2 {
		return acts
	}
	out := make([]ledger.RecoveryAction, 0, len(acts))
	for len(out) < len(acts) {
		for _, p := range order {
			if q := byPrefix[p]; len(q) > 0 {
				out = append(out, q[0])
				byPrefix[p] = q[1:]
			}
		}
	}
	return out
}
