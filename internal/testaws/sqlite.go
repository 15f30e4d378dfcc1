package testaws

import (
	"os"
	"testing"
)

// SQLiteContent is a SQLite database's content as a test compares it
// before and after a command: its file and its write-ahead log (an
// absent log and an empty one alike: SQLite creates an empty one for any
// reader of a WAL database).
func SQLiteContent(t testing.TB, path string) string {
	t.Helper()
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(path + "-wal")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(db) + "\x00" + string(wal)
}
