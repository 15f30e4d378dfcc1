// Package accesslog reads Amazon S3 server access logs: the documented
// record format, one request a line, streamed from a log object with
// constant memory. The access-log collector uses it to validate and count
// what it seals; searches over the sealed logs build on its Reader.
//
// A line that does not parse is a *LineError naming its line number, and
// reading goes on with the next line: one bad record never hides the rest.
package accesslog
