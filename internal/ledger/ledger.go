package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite" // the pure-Go SQLite driver
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNewerSchema means the ledger was written by a newer custody; this
// version leaves it untouched rather than guess at its meaning.
var ErrNewerSchema = errors.New("ledger schema is newer than this custody understands")

// Ledger is the local SQLite index and journal. It is safe for concurrent
// use, and several processes may open the same file: SQLite's WAL mode
// and a busy timeout serialise their writes.
type Ledger struct {
	db   *sql.DB
	path string
	now  func() time.Time
	busy time.Duration // how long a writer waits for another process's write
	// stmts caches the prepared statements of the hot paths (every
	// artifact's writes), by query text.
	stmts sync.Map
	// writes queues the artifacts' rows for shared commits (batch.go).
	writes writeQueue
	// readOnly is a ledger OpenReadOnly opened, at schema (which may be
	// older than this build's).
	readOnly bool
	schema   int
}

// stmt returns query prepared once: preparing it again for every artifact
// cost more than running it.
func (l *Ledger) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := l.stmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := l.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := l.stmts.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// Option adjusts Open.
type Option func(*Ledger)

// WithClock sets the clock used for the ledger's own timestamps.
func WithClock(now func() time.Time) Option { return func(l *Ledger) { l.now = now } }

// busyTimeout is how long a writer waits for another process's write.
const busyTimeout = 10 * time.Second

// withBusyTimeout sets the busy timeout (tests shorten it).
func withBusyTimeout(d time.Duration) Option { return func(l *Ledger) { l.busy = d } }

// Open opens (creating if needed) the ledger at path and applies any
// pending migrations. A ledger from a newer schema returns ErrNewerSchema
// and is not modified.
func Open(ctx context.Context, path string, opts ...Option) (*Ledger, error) {
	if path == "" {
		return nil, errors.New("open ledger: no path configured (set ledger: in the config)")
	}
	l := newLedger(path, opts)
	q := l.params()
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := (&url.URL{Scheme: "file", Opaque: path, RawQuery: q.Encode()}).String()

	// The ledger names buckets, keys and cases: readable by its owner
	// only. An empty file is a new database to SQLite, and SQLite gives
	// the -wal and -shm files it creates the main file's mode.
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	// The uploads of a run look up sealed sources many at a time: keep
	// their connections (and the statements prepared on them) open
	// rather than open a new one for each lookup.
	db.SetMaxIdleConns(maxIdleConns)
	l.db = db
	if err := l.migrate(ctx); err != nil {
		db.Close()
		return nil, l.wrap("open ledger", err)
	}
	return l, nil
}

// newLedger is a ledger at path with opts applied, not open yet.
func newLedger(path string, opts []Option) *Ledger {
	l := &Ledger{path: path, now: defaultClock, busy: busyTimeout}
	l.writes.init()
	for _, o := range opts {
		o(l)
	}
	return l
}

// params are the SQLite parameters of every connection: the busy timeout
// first, so that it already applies while another process is switching a
// new file to WAL.
func (l *Ledger) params() url.Values {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", l.busy.Milliseconds()))
	return q
}

func errNewerSchema(v int) error {
	return fmt.Errorf("%w: file has schema %d, this build knows up to %d; upgrade custody or point ledger: at another file", ErrNewerSchema, v, len(migrations))
}

// OpenReadOnly opens the existing ledger at path to read only, as a dry
// run must: it creates no ledger, applies no migration, leaves the
// journal mode as it is, and writes through it fail. A ledger at an older
// schema is read as it is, its old tables as usual; what a later
// migration adds reads as the migration would make it, empty (Cursor,
// SealedOfKind and EachLogTerms find nothing where their table is not
// there yet). A ledger of a newer schema returns ErrNewerSchema. SQLite
// may create the empty -wal and -shm files that any reader of a WAL
// database needs; the database is not changed.
func OpenReadOnly(ctx context.Context, path string, opts ...Option) (*Ledger, error) {
	if path == "" {
		return nil, errors.New("open ledger: no path configured (set ledger: in the config)")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open ledger %s to read it: %w", path, err)
	}
	l := newLedger(path, opts)
	l.readOnly = true
	q := l.params()
	q.Set("mode", "ro")
	q.Add("_pragma", "query_only(1)")
	dsn := (&url.URL{Scheme: "file", Opaque: path, RawQuery: q.Encode()}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	db.SetMaxIdleConns(maxIdleConns)
	l.db = db
	v, err := l.SchemaVersion(ctx)
	if err == nil && v > len(migrations) {
		err = errNewerSchema(v)
	}
	if err != nil {
		db.Close()
		return nil, l.wrap("open ledger", err)
	}
	l.schema = v
	return l, nil
}

// lacks reports whether the ledger is one OpenReadOnly opened at a schema
// older than migration n: what n adds is not there to read.
func (l *Ledger) lacks(n int) bool { return l.readOnly && l.schema < n }

// createPrivate creates path, empty and with mode 0600, unless it exists.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case err != nil:
		return err
	}
	// The umask may have narrowed the mode, never widened it; set it
	// exactly anyway, before any data is written.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ErrCorrupt means the ledger file is not a SQLite database, or a
// damaged one.
var ErrCorrupt = errors.New("the ledger file is damaged or not a SQLite database")

// wrap adds the ledger's path to err and, when SQLite reports the file
// damaged or not a database, says what to do: the ledger is only an
// index, and the evidence bucket holds everything it indexes.
func (l *Ledger) wrap(what string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("%s %s: %w (%v). The ledger is only an index of the evidence bucket, which holds "+
				"everything it records: move %s aside and the next run starts a new one, rebuilt from the bucket and the sources; "+
				"custody verify --no-ledger checks the evidence without it", what, l.path, ErrCorrupt, err, l.path)
		}
	}
	return fmt.Errorf("%s %s: %w", what, l.path, err)
}

// maxIdleConns is how many idle connections the pool keeps.
const maxIdleConns = 16

// Close commits what is queued and closes the database.
func (l *Ledger) Close() error {
	ferr := l.Flush(context.Background(), "")
	l.stmts.Range(func(_, s any) bool { s.(*sql.Stmt).Close(); return true })
	return errors.Join(ferr, l.db.Close())
}

// Path is the file the ledger lives in.
func (l *Ledger) Path() string { return l.path }

// DB exposes the database for packages that keep their own tables' logic
// next to their domain code; they must use transactions from BeginTx.
func (l *Ledger) DB() *sql.DB { return l.db }

// SchemaVersion is the schema version in the file.
func (l *Ledger) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := l.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// migrate applies pending migrations in one immediate transaction, so two
// processes opening a new ledger at once do not both apply them.
func (l *Ledger) migrate(ctx context.Context) error {
	// SQLite skips the busy handler in a few cases (a file being switched
	// to WAL by another process is one): retry those within the timeout.
	// The wait is a timer, not a deadline read from the clock.
	var tx *sql.Tx
	var err error
	deadline := time.NewTimer(l.busy)
	defer deadline.Stop()
	for expired := false; ; {
		tx, err = l.db.BeginTx(ctx, nil)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || expired {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			expired = true // one last try
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(migrations) {
		return errNewerSchema(v)
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("apply migration %d: %w", i+1, err)
		}
		if fill := migrationFills[i+1]; fill != nil {
			if err := fill(ctx, tx); err != nil {
				return fmt.Errorf("apply migration %d: %w", i+1, err)
			}
		}
		// PRAGMA takes no bound parameters; i is our own integer.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			return fmt.Errorf("record migration %d: %w", i+1, err)
		}
	}
	return tx.Commit()
}

// ts formats a time for storage: UTC RFC 3339 with nanoseconds, which
// sorts as text.
func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// parseTS reads a time written by ts.
func parseTS(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }
