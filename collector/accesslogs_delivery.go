package collector

import (
	"regexp"
	"strings"
	"time"

	"github.com/custody-ir/custody/internal/config"
)

// delivery is one place logs are listed from, with its cursor.
type delivery struct {
	bucket  string
	prefix  string // the listing's prefix
	format  string // config.AccessLogSimple, config.AccessLogPartitioned, or "" for opaque files
	event   bool   // partitioned by event time
	sources []string
}

func (d delivery) scope() string {
	switch d.format {
	case config.AccessLogSimple:
		return "simple/" + d.bucket + "/" + d.prefix
	case config.AccessLogPartitioned:
		return "partitioned/" + d.bucket + "/" + d.prefix
	}
	return "files/" + d.bucket + "/" + d.prefix
}

// Late deliveries: a server access log object's key time is never more
// than lateKey before the newest one copied (clock skew between S3's log
// writers), and an event-time partition gets its last object within a day
// of the next day's first. Each run lists again from there and skips what
// is sealed.
const lateKey = time.Hour

// startAfter is where a delivery's listing starts, from its cursor (the
// newest key copied before).
func (d delivery) startAfter(cursor string) string {
	if cursor == "" {
		return ""
	}
	if d.format == "" {
		return cursor // opaque files: keys are written in increasing order
	}
	t, ok := keyTime(cursor)
	if !ok {
		return ""
	}
	switch {
	case d.format == config.AccessLogSimple:
		return d.prefix + t.Add(-lateKey).Format("2006-01-02-15-04-05")
	case d.event:
		return d.prefix + t.AddDate(0, 0, -1).Format("2006/01/02/")
	}
	return d.prefix + t.Add(-lateKey).Format("2006/01/02/2006-01-02-15-04-05")
}

var (
	// simpleName is a simple-format log object's name after its prefix.
	simpleName = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[^/]+$`)
	// partitionedName is the rest of a partitioned key after the source.
	partitionedName = regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[^/]+$`)
)

// keyTime is the time in a log object's name.
func keyTime(key string) (time.Time, bool) {
	name := key[strings.LastIndexByte(key, '/')+1:]
	if len(name) < 19 {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02-15-04-05", name[:19])
	return t, err == nil
}

// belongs says whether a listed key is a log object of the delivery.
func (d delivery) belongs(key string) bool {
	rest := strings.TrimPrefix(key, d.prefix)
	switch d.format {
	case config.AccessLogSimple:
		return simpleName.MatchString(rest)
	case config.AccessLogPartitioned:
		return partitionedName.MatchString(rest)
	}
	return !strings.HasSuffix(key, "/") // a folder marker is no file
}
