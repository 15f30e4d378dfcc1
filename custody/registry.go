package custody

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custody-ir/custody/custody/finding"
	"github.com/custody-ir/custody/internal/awsclient"
)

// The registry of streams is the store's memory of every stream ever
// started, so that a verifier holding only the bucket and the trust
// anchor sees a stream deleted whole, or cut below a head once recorded.
// It is an append-only list of signed notes, one object per entry,
// written with If-None-Match under Object Lock:
//
//	<prefix>/registry/<n, 12 digits>.note
//
//	s3://<bucket>/<prefix>/registry                origin
//	<n>                                            the entry's index, from 1
//	custody-previous <hex SHA-256> | none          entry n-1's bytes
//	custody-time <RFC 3339>                        when it was signed
//	custody-stream <stream>                        the stream's key segment
//	custody-checkpoint <size> <base64 root>        its log, as the writer had it
//
// signed as log checkpoints are (noteSigner). A chain registers its
// stream when it writes its first checkpoint and at every heartbeat, so
// the registry keeps recent heads without growing at every seal.
const (
	registryDir       = "registry"
	registrySuffix    = ".note"
	registryExtPrev   = "custody-previous "
	registryExtTime   = "custody-time "
	registryExtStream = "custody-stream "
	registryExtCP     = "custody-checkpoint "
	registryNone      = "none"
	// registryAttempts bounds the appends lost to other writers in a row.
	registryAttempts = 10
	// registryWindow is how many entries verify reads ahead.
	registryWindow = 256
	// maxRegistryEntrySize bounds what is read of an entry.
	maxRegistryEntrySize = 16 << 10
)

// RegistryPrefix is the folder of the registry's entries.
func RegistryPrefix(prefix string) string { return join(prefix, registryDir) + "/" }

// RegistryKey is the key of registry entry n.
func RegistryKey(prefix string, n int64) string {
	return join(prefix, registryDir, fmt.Sprintf("%012d%s", n, registrySuffix))
}

// ParseRegistryKey returns the index of a registry entry's key, or
// ok=false for anything else (under the registry's folder or not).
func ParseRegistryKey(prefix, key string) (n int64, ok bool) {
	rest, found := strings.CutPrefix(key, RegistryPrefix(prefix))
	if !found {
		return 0, false
	}
	digits, found := strings.CutSuffix(rest, registrySuffix)
	if !found || len(digits) != 12 {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 1 || fmt.Sprintf("%012d", n) != digits {
		return 0, false
	}
	return n, true
}

// RegistryOrigin names a store's registry: its entries are valid for
// that bucket and prefix only.
func RegistryOrigin(bucket, prefix string) string {
	return "s3://" + bucket + "/" + join(prefix, registryDir)
}

// RegistryEntry is one parsed entry of the registry.
type RegistryEntry struct {
	Origin   string
	Index    int64
	Previous string // hex SHA-256 of entry Index-1's bytes; "" for the first
	Time     time.Time
	Stream   string
	Size     int64
	Root     tlog.Hash
}

// body renders the entry's note text.
func (e RegistryEntry) body() string {
	prev := e.Previous
	if prev == "" {
		prev = registryNone
	}
	return fmt.Sprintf("%s\n%d\n%s%s\n%s%s\n%s%s\n%s%d %s\n", e.Origin, e.Index, registryExtPrev, prev,
		registryExtTime, e.Time.UTC().Format(time.RFC3339), registryExtStream, e.Stream,
		registryExtCP, e.Size, base64.StdEncoding.EncodeToString(e.Root[:]))
}

// ErrMalformedRegistryEntry means bytes are not a registry entry custody
// wrote.
var ErrMalformedRegistryEntry = errors.New("malformed registry entry")

// parseRegistryEntry parses an entry's note text (signatures already
// checked by the caller). Every line is required, in order.
func parseRegistryEntry(text string) (RegistryEntry, error) {
	bad := func(format string, args ...any) (RegistryEntry, error) {
		return RegistryEntry{}, fmt.Errorf("%w: %s", ErrMalformedRegistryEntry, fmt.Sprintf(format, args...))
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 6 {
		return bad("%d lines, want 6", len(lines))
	}
	var e RegistryEntry
	e.Origin = lines[0]
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != lines[1] {
		return bad("index %q", lines[1])
	}
	e.Index = n
	prev, ok := strings.CutPrefix(lines[2], registryExtPrev)
	if _, herr := hex.DecodeString(prev); !ok || prev != registryNone && (len(prev) != 64 || herr != nil) {
		return bad("previous %q", lines[2])
	}
	if prev != registryNone {
		e.Previous = prev
	}
	t, ok := strings.CutPrefix(lines[3], registryExtTime)
	if e.Time, err = time.Parse(time.RFC3339, t); !ok || err != nil {
		return bad("time %q", lines[3])
	}
	if e.Stream, ok = strings.CutPrefix(lines[4], registryExtStream); !ok || e.Stream == "" || segment(e.Stream) != e.Stream {
		return bad("stream %q", lines[4])
	}
	cp, ok := strings.CutPrefix(lines[5], registryExtCP)
	size, root, ok2 := strings.Cut(cp, " ")
	if e.Size, err = strconv.ParseInt(size, 10, 64); !ok || !ok2 || err != nil || e.Size < 0 || strconv.FormatInt(e.Size, 10) != size {
		return bad("checkpoint %q", lines[5])
	}
	h, err := base64.StdEncoding.DecodeString(root)
	if err != nil || len(h) != tlog.HashSize {
		return bad("checkpoint root %q", root)
	}
	copy(e.Root[:], h)
	return e, nil
}

// signRegistryEntry renders and signs e.
func signRegistryEntry(e RegistryEntry, s signature.Signer) ([]byte, error) {
	return signNote(e.Origin, e.body(), s)
}

// openRegistryEntry verifies an entry's signature against trust for
// origin and parses it; it returns the key that signed.
func openRegistryEntry(msg []byte, origin string, trust []TrustedKey) (RegistryEntry, TrustedKey, error) {
	text, signer, err := openNote(msg, origin, trust)
	if err != nil {
		return RegistryEntry{}, TrustedKey{}, err
	}
	e, err := parseRegistryEntry(text)
	if err != nil {
		return e, TrustedKey{}, err
	}
	if e.Origin != origin {
		return e, TrustedKey{}, fmt.Errorf("%w: origin %q, want %q", ErrMalformedRegistryEntry, e.Origin, origin)
	}
	return e, signer, nil
}

// registryWriter appends to a store's registry. It remembers the last
// entry it knows of, so that an append lists only what came after.
type registryWriter struct {
	mu      sync.Mutex
	last    int64  // the newest entry known; 0: none, or not listed yet
	lastSHA string // its bytes' SHA-256, hex
	listed  bool
}

// registry is the Store's registry writer, shared by every chain a
// process writes through that Store.
func (s *Store) registry() *registryWriter { return &s.reg }

// register appends an entry recording the stream's log as c.front holds
// it. A registry that cannot be written does not fail the seal or the
// heartbeat that called it: the problem goes to Warn, the chain's next
// checkpoint tries again, and verify reports the stream unregistered
// meanwhile.
func (c *Chain) register(ctx context.Context) {
	if c.front == nil {
		return
	}
	err := c.store.registry().append(ctx, c, c.front.size, c.front.root())
	if err == nil {
		c.registered = true
		return
	}
	if c.Warn != nil {
		c.Warn(fmt.Errorf("stream %s was not registered in s3://%s/%s (its next checkpoint tries again; until then verify reports stream-unregistered): %w",
			c.stream, c.store.bucket, RegistryPrefix(c.store.prefix), awsclient.AgentRole.Explain(err)))
	}
}

// append writes the next entry, linked to the newest one; when another
// writer took its index first, it lists what came since and tries again.
func (w *registryWriter) append(ctx context.Context, c *Chain, size int64, root tlog.Hash) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := c.store
	for attempt := 0; attempt < registryAttempts; attempt++ {
		if !w.listed {
			if err := w.sync(ctx, s, c.reader); err != nil {
				return err
			}
		}
		e := RegistryEntry{Origin: RegistryOrigin(s.bucket, s.prefix), Index: w.last + 1, Previous: w.lastSHA,
			Time: c.now().UTC().Truncate(time.Second), Stream: segment(c.stream), Size: size, Root: root}
		msg, err := signRegistryEntry(e, c.signer)
		if err != nil {
			return fmt.Errorf("sign registry entry %d: %w", e.Index, err)
		}
		_, err = s.putLocked(ctx, RegistryKey(s.prefix, e.Index), msg, "text/plain; charset=utf-8", true)
		if errors.Is(err, ErrChainConflict) {
			w.listed = false // another writer took the index: list what it wrote
			continue
		}
		if err != nil {
			w.listed = false
			return err
		}
		sum := sha256.Sum256(msg)
		w.last, w.lastSHA = e.Index, hex.EncodeToString(sum[:])
		return nil
	}
	return fmt.Errorf("registry s3://%s/%s: %d appends in a row lost to other writers", s.bucket, RegistryPrefix(s.prefix), registryAttempts)
}

// sync finds the registry's newest entry after the one last known (keys
// sort by index) and hashes its newest version's bytes.
func (w *registryWriter) sync(ctx context.Context, s *Store, api objectReader) error {
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(RegistryPrefix(s.prefix))}
	if w.last > 0 {
		in.KeyMarker = aws.String(RegistryKey(s.prefix, w.last))
	}
	newest, version := w.last, ""
	var marker [2]string
	for {
		page, err := api.ListObjectVersions(ctx, in)
		if err != nil {
			return fmt.Errorf("list the registry s3://%s/%s: %w", s.bucket, RegistryPrefix(s.prefix), err)
		}
		for _, ov := range page.Versions {
			if n, ok := ParseRegistryKey(s.prefix, aws.ToString(ov.Key)); ok && n > newest {
				newest, version = n, aws.ToString(ov.VersionId) // a key's versions come newest first
			}
		}
		for _, dm := range page.DeleteMarkers {
			if n, ok := ParseRegistryKey(s.prefix, aws.ToString(dm.Key)); ok && n > newest {
				newest, version = n, "" // never write at a key that had an entry
			}
		}
		if err := awsclient.VersionsAdvance(&marker, page); err != nil {
			return err
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
	if newest == w.last {
		w.listed = true
		return nil
	}
	sha := ""
	if version != "" {
		key := RegistryKey(s.prefix, newest)
		out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), VersionId: aws.String(version)})
		if err != nil && httpStatus(err) != http.StatusNotFound {
			return fmt.Errorf("read registry entry s3://%s/%s: %w", s.bucket, key, err)
		}
		if err == nil {
			h := sha256.New()
			_, err = io.Copy(h, io.LimitReader(out.Body, maxRegistryEntrySize))
			out.Body.Close()
			if err != nil {
				return fmt.Errorf("read registry entry s3://%s/%s: %w", s.bucket, key, err)
			}
			sha = hex.EncodeToString(h.Sum(nil))
		}
	}
	// An entry that cannot be read (only a delete marker left) is linked
	// to as "none": verify reports the break, which is what it is.
	w.last, w.lastSHA, w.listed = newest, sha, true
	return nil
}

// registered is what the registry recorded of one stream.
type registered struct {
	entry RegistryEntry
	obj   string
}

// checkRegistry verifies the registry of streams and the store against
// it: entries 1..N each present once, linked to the one before, signed
// by a trusted key for the registry and stored when signed; every stream
// it names still has its manifests, at least as many as recorded, and
// the log root recorded at each size; every stream with a log
// checkpoint is registered. A package carries no registry: its signed
// statement records the heads instead.
func (v *Verifier) checkRegistry(ctx context.Context, idx *storeIndex, chains map[string][]*ManifestRecord, r *Report) {
	if v.recorded != nil {
		return
	}
	entries := map[int64][]ObjectVersion{}
	var newest int64
	for _, ov := range idx.registry {
		n, ok := ParseRegistryKey(v.prefix, ov.Key)
		if !ok {
			if !ov.DeleteMarker {
				r.Findings.Fail(finding.UnsealedObject, objectName(v.bucket, ov.Key, ov.VersionID), remedyPlanted,
					"in the registry's folder (stored %s), but not a registry entry", stamp(ov.LastModified))
			}
			continue
		}
		entries[n] = append(entries[n], ov)
		newest = max(newest, n)
	}
	origin := RegistryOrigin(v.bucket, v.prefix)
	byStream := map[string][]registered{}
	prevSHA := ""
	ahead, _ := v.src.(interface {
		prefetch(context.Context, []ObjectVersion)
	})
	for n := int64(1); n <= newest; n++ {
		if ahead != nil && (n-1)%registryWindow == 0 {
			// Entries are small and read in order: read the next window
			// ahead, in parallel.
			var next []ObjectVersion
			for m := n; m < n+registryWindow && m <= newest; m++ {
				if ov, ok := newestVersion(entries[m]); ok {
					next = append(next, ov)
				}
			}
			ahead.prefetch(ctx, next)
		}
		key := RegistryKey(v.prefix, n)
		e, sha, obj, ok := v.readRegistryEntry(ctx, key, n, entries[n], origin, r)
		if !ok {
			prevSHA = sha
			continue
		}
		if n > 1 && (prevSHA == "" || e.Previous != prevSHA) || n == 1 && e.Previous != "" {
			r.Findings.Fail(finding.RegistryBroken, obj, remedyRegistry,
				"links to %s as the entry before it, but entry %d hashes to %s: the registry was rewritten", noneIfEmpty(e.Previous), n-1, noneIfEmpty(prevSHA))
		}
		prevSHA = sha
		byStream[e.Stream] = append(byStream[e.Stream], registered{e, obj})
	}
	streams := make([]string, 0, len(byStream))
	for s := range byStream {
		streams = append(streams, s)
	}
	sort.Strings(streams)
	for _, stream := range streams {
		v.checkRegistered(stream, byStream[stream], idx, chains[stream], r)
	}
	for stream, vs := range idx.logCheckpoints {
		switch {
		case !hasVersion(vs):
		case len(byStream[stream]) == 0:
			r.Findings.Fail(finding.StreamUnregistered, objectName(v.bucket, LogCheckpointKey(v.prefix, stream), ""), remedyUnregistered,
				"stream %q has a log checkpoint but no entry in the registry s3://%s/%s", stream, v.bucket, RegistryPrefix(v.prefix))
		default:
			v.checkRegisteredHead(ctx, stream, vs, byStream[stream], r)
		}
	}
}

// remedyUnregistered is the remedy for a stream the registry does not
// record (or no longer records) as its checkpoints say.
const remedyUnregistered = "if its writer warned that the registry could not be written, its next checkpoint registers it; otherwise the registry's newest entries were removed: " + remedyRegistry

// checkRegisteredHead checks that the registry kept up with a live
// stream: its writer registers it at every heartbeat, so its newest
// entry is at most about one heartbeat older than its newest checkpoint.
// Older means the registry's newest entries were removed, perhaps with a
// stream they named, or its writer could not write the registry. (A
// closed stream promises nothing; the newest checkpoint's own problems
// are checkLog's to report.)
func (v *Verifier) checkRegisteredHead(ctx context.Context, stream string, versions []ObjectVersion, recs []registered, r *Report) {
	newest, _ := newestVersion(versions)
	key := LogCheckpointKey(v.prefix, stream)
	rc, _, err := v.src.Open(ctx, key, newest.VersionID)
	if err != nil {
		return
	}
	msg, err := io.ReadAll(io.LimitReader(rc, maxLogCheckpointSize))
	rc.Close()
	if err != nil {
		return
	}
	cp, _, err := openLogCheckpoint(msg, LogOrigin(v.bucket, v.prefix, stream), v.trust)
	if err != nil {
		return
	}
	if cp.Closed {
		return
	}
	latest := recs[0]
	for _, rec := range recs[1:] {
		if rec.entry.Time.After(latest.entry.Time) {
			latest = rec
		}
	}
	if cp.Time.Sub(latest.entry.Time) > 2*cp.Heartbeat+v.logTolerance() {
		r.Findings.Fail(finding.StreamUnregistered, objectName(v.bucket, key, newest.VersionID), remedyUnregistered,
			"stream %q promised a heartbeat every %s, and its writer registers the stream at each; its newest checkpoint was signed at %s, but the registry's newest entry for it (%s) at %s",
			stream, cp.Heartbeat, stamp(cp.Time), latest.obj, stamp(latest.entry.Time))
	}
}

// checkRegistered compares what the registry recorded of a stream with
// the stream's manifests.
func (v *Verifier) checkRegistered(stream string, recs []registered, idx *storeIndex, chain []*ManifestRecord, r *Report) {
	var last int64
	for seq, vs := range idx.manifests[stream] {
		if hasVersion(vs) && seq > last {
			last = seq
		}
	}
	top := recs[0]
	for _, rec := range recs[1:] {
		if rec.entry.Size > top.entry.Size {
			top = rec
		}
	}
	if last == 0 {
		r.Findings.Fail(finding.StreamMissing, objectName(v.bucket, ManifestPrefix(v.prefix)+stream+"/", ""), remedyChain,
			"the registry recorded stream %q with %d manifests at %s (%s); the store has none of its manifests: the stream was deleted",
			stream, top.entry.Size, stamp(top.entry.Time), top.obj)
		return
	}
	if top.entry.Size > last {
		r.Findings.Fail(finding.ManifestMissing, top.obj, remedyChain,
			"the registry recorded %d manifests of stream %q at %s; the stream has %d: its newest manifests are gone",
			top.entry.Size, stream, stamp(top.entry.Time), last)
	}
	tree := streamTree(chain)
	for _, rec := range recs {
		if rec.entry.Size == 0 || rec.entry.Size > tree.size {
			continue
		}
		if root, err := tree.root(rec.entry.Size); err != nil || root != rec.entry.Root {
			r.Findings.Fail(finding.CheckpointFork, rec.obj, remedyChain,
				"the registry recorded stream %q at size %d with root %s; its manifests hash to %s: the log was forked or rewritten",
				stream, rec.entry.Size, rec.entry.Root, root)
		}
	}
}

// readRegistryEntry reads and opens entry n. sha is the SHA-256 of its
// bytes when they could be read, whatever else is wrong with them.
func (v *Verifier) readRegistryEntry(ctx context.Context, key string, n int64, versions []ObjectVersion, origin string, r *Report) (e RegistryEntry, sha, obj string, ok bool) {
	obj = objectName(v.bucket, key, "")
	var live []ObjectVersion
	for _, ov := range versions {
		if ov.DeleteMarker {
			r.Findings.Fail(finding.RegistryBroken, objectName(v.bucket, key, ov.VersionID), remedyRegistry, "a delete marker hides registry entry %d", n)
			continue
		}
		live = append(live, ov)
	}
	switch {
	case len(live) == 0:
		r.Findings.Fail(finding.RegistryBroken, obj, remedyRegistry,
			"registry entry %d is missing, though a later entry exists: entries were deleted", n)
		return e, "", obj, false
	case len(live) > 1:
		r.Findings.Fail(finding.RegistryBroken, obj, remedyRegistry,
			"registry entry %d has %d versions; custody writes each entry once: a fork or a replay", n, len(live))
	}
	ov, _ := newestVersion(live)
	obj = objectName(v.bucket, key, ov.VersionID)
	rc, _, err := v.src.Open(ctx, key, ov.VersionID)
	if err != nil {
		r.Findings.Fail(finding.RegistryBroken, obj, "check the verifier's read permissions (s3:GetObject on the registry)", "cannot read: %v", err)
		return e, "", obj, false
	}
	msg, err := io.ReadAll(io.LimitReader(rc, maxRegistryEntrySize+1))
	rc.Close()
	if err == nil && len(msg) > maxRegistryEntrySize {
		err = fmt.Errorf("larger than %d bytes", maxRegistryEntrySize)
	}
	if err != nil {
		r.Findings.Fail(finding.RegistryBroken, obj, "check the verifier's read permissions (s3:GetObject on the registry)", "cannot read: %v", err)
		return e, "", obj, false
	}
	sum := sha256.Sum256(msg)
	sha = hex.EncodeToString(sum[:])
	e, signer, err := openRegistryEntry(msg, origin, v.trust)
	if err != nil {
		r.Findings.Fail(finding.RegistryBroken, obj, "treat this entry as forged: "+remedyRegistry, "not a registry entry signed by a trusted key: %v", err)
		return e, sha, obj, false
	}
	if e.Index != n {
		r.Findings.Fail(finding.RegistryBroken, obj, remedyRegistry, "records index %d, but is stored as entry %d: moved or replayed", e.Index, n)
		return e, sha, obj, false
	}
	if !signer.ValidAt(e.Time) || (!ov.LastModified.IsZero() && !signer.ValidAt(ov.LastModified)) {
		r.Findings.Fail(finding.SignatureKeyExpired, obj, "treat this entry as forged",
			"signed by trusted key %q, which was not valid when it was signed (%s) or stored (%s)", signer.Name, stamp(e.Time), stamp(ov.LastModified))
		return e, sha, obj, false
	}
	if !ov.LastModified.IsZero() {
		if d := ov.LastModified.Sub(e.Time); d > v.logTolerance() || d < -v.logTolerance() {
			r.Findings.Fail(finding.RegistryBroken, obj, remedyRegistry,
				"signed at %s but stored at %s (S3's clock): an old entry was stored again, or the writer's clock is wrong", stamp(e.Time), stamp(ov.LastModified))
		}
	}
	return e, sha, obj, true
}

// remedyRegistry is the remedy for a registry that is not what custody
// wrote.
const remedyRegistry = "the registry of streams was altered: find who wrote or deleted under it (CloudTrail data events on the evidence bucket), and compare with a witness or an exported package"

func noneIfEmpty(sha string) string {
	if sha == "" {
		return registryNone
	}
	return sha
}

// newestVersion is the newest version of vs that is not a delete marker.
func newestVersion(vs []ObjectVersion) (ObjectVersion, bool) {
	var newest ObjectVersion
	found := false
	for _, ov := range vs {
		if !ov.DeleteMarker && (!found || ov.LastModified.After(newest.LastModified)) {
			newest, found = ov, true
		}
	}
	return newest, found
}

// hasVersion reports whether vs holds a version that is not a delete
// marker.
func hasVersion(vs []ObjectVersion) bool {
	for _, ov := range vs {
		if !ov.DeleteMarker {
			return true
		}
	}
	return false
}
