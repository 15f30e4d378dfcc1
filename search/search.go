package search

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Opener reads one version of a stored object.
type Opener interface {
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// MaxFileSize bounds a log file once decompressed: a sealed file can still
// be hostile (its source bucket was the attacker's to write).
const MaxFileSize = 1 << 30

// Stats says what a search read.
type Stats struct {
	Files   int   `json:"files"`   // in the time window
	Read    int64 `json:"read"`    // GETs made
	Skipped int64 `json:"skipped"` // read, but holding none of the filter's literal values
	// Unread are the files of the window not read at all: the index
	// (the terms of an earlier read of the same sealed bytes) shows
	// none of the filter's values in them.
	Unread int64 `json:"unread"`
	// Unindexed are the files read because the index held no terms of
	// them yet (collected before the index, or a crash or a busy agent
	// left them out): their terms are recorded now.
	Unindexed int64 `json:"unindexed"`
	Bytes     int64 `json:"bytes"`   // compressed bytes read
	Records   int64 `json:"records"` // records parsed
	// Malformed are access-log lines that are not records (sealed as
	// delivered; the collector reported them as access-log-malformed).
	Malformed int64 `json:"malformed"`
	Matched   int64 `json:"matched"`
}

// Problem is a file whose records could not be believed or read: its
// records are left out, so the results are incomplete.
type Problem struct {
	Object  string `json:"object"`
	Message string `json:"message"`
}

// Searcher reads sealed log files in parallel.
type Searcher struct {
	// API reads the files from the evidence bucket, unless Open is set
	// (an exported package's files).
	API  Opener
	Open func(ctx context.Context, f File) (io.ReadCloser, error)
	// Index, when set, skips files known not to hold the filter's values,
	// unread, and records the terms of every file it reads.
	Index   TermIndex
	Workers int // default 8 x GOMAXPROCS, at least 16: reads wait on the network more than they compute
}

// Run reads files (in time order, as Window returns them) and calls emit
// with every record f selects: in file order, each file's records in time
// order. Files are read in parallel, and decompressed, hashed against the
// SHA-256 their manifest sealed and parsed before any of their records is
// believed. A file that fails is a Problem, never a partial answer.
func (s Searcher) Run(ctx context.Context, files []File, f Filter, emit func(Record) error) (stats Stats, problems []Problem, err error) {
	st := &Stats{Files: len(files)}
	workers := s.Workers
	if workers <= 0 {
		workers = max(16, 8*runtime.GOMAXPROCS(0))
	}
	type result struct {
		recs    []Record
		problem *Problem
	}
	results := make([]chan result, len(files))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	needles := f.needles()
	var next atomic.Int64
	var wg sync.WaitGroup
	// A window of files ahead of the one being emitted, so that memory
	// holds at most that many files' matches.
	window := make(chan struct{}, 4*workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := &bytes.Buffer{}
			for {
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return
				}
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				recs, err := s.file(ctx, files[i], f, needles, buf, st)
				var res result
				res.recs = recs
				if err != nil {
					res.problem = &Problem{Object: objectName(files[i]), Message: err.Error()}
				}
				results[i] <- res
			}
		}()
	}
	defer func() {
		cancel()
		wg.Wait() // the workers' counts are final
		stats = *st
		if fl, ok := s.Index.(interface{ Flush(context.Context) error }); ok && err == nil {
			err = fl.Flush(context.WithoutCancel(ctx))
		}
	}()
	for i := range files {
		var res result
		select {
		case res = <-results[i]:
		case <-ctx.Done():
			return stats, problems, ctx.Err()
		}
		<-window
		if res.problem != nil {
			if ctx.Err() != nil {
				return stats, problems, ctx.Err()
			}
			problems = append(problems, *res.problem)
			continue
		}
		for _, r := range res.recs {
			st.Matched++
			if err := emit(r); err != nil {
				return stats, problems, err
			}
		}
	}
	return stats, problems, nil
}

// file reads, checks and parses one file, returning its matching records
// in time order.
func (s Searcher) file(ctx context.Context, fl File, f Filter, needles [][]string, buf *bytes.Buffer, st *Stats) ([]Record, error) {
	indexing := false
	if s.Index != nil {
		if s.Index.Skip(fl) {
			atomic.AddInt64(&st.Unread, 1)
			return nil, nil
		}
		indexing = fl.SHA256 != "" && !s.Index.Known(fl)
		if indexing {
			atomic.AddInt64(&st.Unindexed, 1)
		}
	}
	atomic.AddInt64(&st.Read, 1)
	body, err := s.open(ctx, fl)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	defer body.Close()
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(body, h)}
	buf.Reset()
	// CloudTrail's files are gzip; S3 server access logs are plain text.
	br := bufio.NewReader(counted)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		var gz *gzip.Reader
		if gz, err = newGzip(br); err == nil {
			defer gzReaders.Put(gz)
			src = gz
		}
	} else if fl.Kind == KindCloudTrailLog {
		err = errors.New("not gzip")
	}
	if err == nil {
		_, err = io.Copy(buf, io.LimitReader(src, MaxFileSize+1))
	}
	if err == nil && buf.Len() > MaxFileSize {
		err = fmt.Errorf("larger than %d bytes decompressed", MaxFileSize)
	}
	if _, derr := io.Copy(io.Discard, counted); err == nil {
		err = derr // the rest of the bytes, for the hash
	}
	atomic.AddInt64(&st.Bytes, counted.n)
	sum := hex.EncodeToString(h.Sum(nil))
	if fl.SHA256 != "" && sum != fl.SHA256 {
		// Checked first: a changed file's records are never believed.
		return nil, fmt.Errorf("its bytes hash to %s, but manifest %s sealed %s: the evidence was altered (run custody verify); its records are left out", sum, fl.Manifest, fl.SHA256)
	}
	if err != nil {
		return nil, fmt.Errorf("not a gzip file, or cut short: %v (it was sealed as it was found; its records are left out)", err)
	}
	if !indexing && !containsAll(buf.Bytes(), needles) {
		atomic.AddInt64(&st.Skipped, 1)
		return nil, nil
	}
	ev := Evidence{Object: objectName(fl), SHA256: sum, Manifest: fl.Manifest, Source: fl.Source}
	var recs []Record
	var n int64
	terms := map[string]bool{}
	each := func(r *Record) error {
		n++
		if indexing {
			termsOf(r, terms)
		}
		if r.Account == "" {
			r.Account, r.Region = fl.Account, fl.Region // access logs name neither: the collector's source does
		}
		if f.Match(r) {
			r.Evidence = ev
			recs = append(recs, *r)
		}
		return ctx.Err()
	}
	if fl.Kind == KindAccessLog {
		var bad int
		bad, err = readAccessLog(buf.Bytes(), each)
		atomic.AddInt64(&st.Malformed, int64(bad))
	} else {
		err = readCloudTrail(buf.Bytes(), each)
	}
	atomic.AddInt64(&st.Records, n)
	if err != nil {
		if errors.Is(err, ErrMalformedLog) {
			return nil, fmt.Errorf("%v (it was sealed as it was found; its records are left out)", err)
		}
		return nil, err
	}
	if indexing {
		if err := s.Index.Record(ctx, fl, sortedTerms(terms)); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Time.Before(recs[j].Time) })
	return recs, nil
}

func (s Searcher) open(ctx context.Context, fl File) (io.ReadCloser, error) {
	if s.Open != nil {
		return s.Open(ctx, fl)
	}
	out, err := s.API.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(fl.Bucket), Key: aws.String(fl.Key), VersionId: nonEmpty(fl.VersionID)})
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

// containsAll reports whether b holds one value of every needle list.
func containsAll(b []byte, needles [][]string) bool {
	for _, alts := range needles {
		found := false
		for _, a := range alts {
			if bytes.Contains(b, []byte(a)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func objectName(f File) string {
	s := "s3://" + f.Bucket + "/" + f.Key
	if f.VersionID != "" {
		s += "?versionId=" + f.VersionID
	}
	return s
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
