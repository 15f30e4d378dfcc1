package versionlist

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Histories reads a list's parts (each in key order) merged by key: each
// key's records from every part together, one key at a time, in key
// order. Only keys under a prefix are returned; the others are still read,
// and checked. Memory holds one key's records.
type Histories struct {
	prefix string
	parts  []*cursor
}

type cursor struct {
	r    *Reader
	head *Record
}

// NewHistories reads the first record of every part.
func NewHistories(prefix string, parts ...*Reader) (*Histories, error) {
	h := &Histories{prefix: prefix}
	for _, r := range parts {
		c := &cursor{r: r}
		if err := c.advance(prefix); err != nil {
			return nil, err
		}
		h.parts = append(h.parts, c)
	}
	return h, nil
}

// advance moves to the part's next record under prefix (head nil at the
// end).
func (c *cursor) advance(prefix string) error {
	for {
		r, err := c.r.Next()
		if errors.Is(err, io.EOF) {
			c.head = nil
			return nil
		}
		if err != nil {
			return err
		}
		if strings.HasPrefix(r.Key, prefix) {
			c.head = &r
			return nil
		}
	}
}

// Next returns the next key and its records, newest first as listed, or
// io.EOF after the last key. A version listed twice for a key, in one part
// or two, is an error: no list custody writes has one.
func (h *Histories) Next() (string, []Record, error) {
	key := ""
	for _, c := range h.parts {
		if c.head != nil && (key == "" || c.head.Key < key) {
			key = c.head.Key
		}
	}
	if key == "" {
		return "", nil, io.EOF
	}
	var out []Record
	seen := map[string]bool{}
	for _, c := range h.parts {
		for c.head != nil && c.head.Key == key {
			r := c.head
			if seen[r.VersionID] {
				return "", nil, fmt.Errorf("%s line %d: version %q of %q listed twice: not a version list custody wrote", c.r.name, c.r.line, r.VersionID, key)
			}
			seen[r.VersionID] = true
			out = append(out, *r)
			if err := c.advance(h.prefix); err != nil {
				return "", nil, err
			}
		}
	}
	return key, out, nil
}
