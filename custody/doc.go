// Package custody is the evidence store and its chain of custody: it
// writes artifacts to an S3 Object Lock bucket, seals each run with a
// signed, hash-chained manifest, and verifies all of it.
//
// This file set starts with the bucket: InitBucket creates or adopts an
// evidence bucket with Object Lock, a default retention and public access
// blocked; CheckBucket reports every way a bucket falls short. No code in
// this package shortens retention, removes a legal hold or bypasses
// governance mode.
package custody
