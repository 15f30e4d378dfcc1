package finding

// The kinds of finding. Each one's comment says when it is reported; each
// is in Kinds with the severities it is reported at, and in the table of
// docs/verify.md (a test holds the three together).

// The evidence bucket, checked by custody verify and custody store check.
const (
	// BucketMissing: the evidence bucket does not exist.
	BucketMissing Kind = "bucket-missing"
	// BucketVersioning: the evidence bucket's versioning is not Enabled.
	BucketVersioning Kind = "bucket-versioning"
	// BucketObjectLock: Object Lock is not enabled on the evidence bucket.
	BucketObjectLock Kind = "bucket-object-lock"
	// BucketDefaultRetention: the bucket's default retention differs from
	// the configured one.
	BucketDefaultRetention Kind = "bucket-default-retention"
	// BucketPublicAccess: public access to the bucket is not fully blocked
	// (a failure), or the server does not implement the public access
	// block API (a warning: check the policy by hand).
	BucketPublicAccess Kind = "bucket-public-access"
)

// Manifests, their chain, signatures, timestamps and checkpoints, checked by
// custody verify.
const (
	// ManifestMissing: a sequence number has no manifest (a gap), its
	// versions were deleted, or the checkpoint or the ledger's head is ahead
	// of the newest manifest.
	ManifestMissing Kind = "manifest-missing"
	// ManifestDeleteMarker: a delete marker hides a manifest.
	ManifestDeleteMarker Kind = "manifest-delete-marker"
	// ManifestRewritten: more than one version at one sequence number: a
	// fork or a replay.
	ManifestRewritten Kind = "manifest-rewritten"
	// ManifestReordered: a manifest's content names another stream or
	// sequence than its key: moved, swapped or replayed.
	ManifestReordered Kind = "manifest-reordered"
	// ManifestMalformed: an object at a manifest's key is not a custody
	// manifest.
	ManifestMalformed Kind = "manifest-malformed"
	// ManifestUnreadable: a manifest could not be read.
	ManifestUnreadable Kind = "manifest-unreadable"
	// ManifestMisplaced: a manifest seals objects of another bucket.
	ManifestMisplaced Kind = "manifest-misplaced"
	// SignatureUntrusted: no trusted key verifies a manifest's or a
	// checkpoint's signature.
	SignatureUntrusted Kind = "signature-untrusted"
	// SignatureKeyExpired: only a trusted key outside its validity window
	// at the signing time, or at S3's time of storing the manifest,
	// verifies the signature.
	SignatureKeyExpired Kind = "signature-key-expired"
	// ChainLinkBroken: a manifest's link to the previous envelope is missing
	// or does not match it.
	ChainLinkBroken Kind = "chain-link-broken"
	// ChainReordered: a manifest was sealed before the one it follows.
	ChainReordered Kind = "chain-reordered"
	// TimestampMissing: a TSA chain is configured but a manifest has no
	// RFC 3161 timestamp.
	TimestampMissing Kind = "timestamp-missing"
	// TimestampUnchecked: a manifest has an RFC 3161 timestamp but no TSA
	// chain is configured to check it (a warning).
	TimestampUnchecked Kind = "timestamp-unchecked"
	// TimestampUnreadable: a manifest's timestamp could not be read.
	TimestampUnreadable Kind = "timestamp-unreadable"
	// TimestampInvalid: a manifest's timestamp does not verify against the
	// TSA chain, is not a timestamp token, or does not cover the manifest.
	TimestampInvalid Kind = "timestamp-invalid"
	// TimestampMismatch: the timestamp's time and the manifest's sealing
	// time are too far apart.
	TimestampMismatch Kind = "timestamp-mismatch"
	// CheckpointMissing: a stream has manifests but no checkpoint.
	CheckpointMissing Kind = "checkpoint-missing"
	// CheckpointDeleteMarker: a delete marker hides a stream's checkpoint.
	CheckpointDeleteMarker Kind = "checkpoint-delete-marker"
	// CheckpointUnreadable: a stream's checkpoint could not be read.
	CheckpointUnreadable Kind = "checkpoint-unreadable"
	// CheckpointMalformed: a checkpoint is not one, or names another stream.
	CheckpointMalformed Kind = "checkpoint-malformed"
	// CheckpointMismatch: the checkpoint's manifest hash differs from the
	// stored manifest's.
	CheckpointMismatch Kind = "checkpoint-mismatch"
	// CheckpointFork: a log checkpoint's root is not the tree hash of the
	// stream's manifests at its size, or does not extend the previous
	// checkpoint's: the log was forked or rewritten.
	CheckpointFork Kind = "checkpoint-fork"
	// CheckpointRollback: a log checkpoint version records fewer manifests
	// than the version stored before it.
	CheckpointRollback Kind = "checkpoint-rollback"
	// CheckpointBehind: the newest log checkpoint does not cover the
	// stream's newest manifest (an old checkpoint stored again, or a
	// writer stopped between manifest and checkpoint).
	CheckpointBehind Kind = "checkpoint-behind"
	// CheckpointReplayed: a log checkpoint was stored long after it was
	// signed: an old checkpoint stored again.
	CheckpointReplayed Kind = "checkpoint-replayed"
	// CheckpointLegacy: a stream has only a checkpoint of the old (DSSE)
	// format; its next seal moves it to the log format (a warning).
	CheckpointLegacy Kind = "checkpoint-legacy"
	// StreamStale: a stream's newest checkpoint, by S3's clock, is older
	// than twice the heartbeat it promised, and the stream was not closed:
	// its tail may have been cut, or its writer stopped.
	StreamStale Kind = "stream-stale"
)

// The registry of streams, checked by custody verify.
const (
	// StreamMissing: the registry of streams records a stream the store
	// has no manifest of: the stream was deleted whole.
	StreamMissing Kind = "stream-missing"
	// StreamUnregistered: a stream has a log checkpoint but the registry
	// of streams does not keep up with it: no entry, or, for a live
	// stream, none within twice its heartbeat of its newest checkpoint
	// (its writer could not write the registry, or the registry's newest
	// entries were removed).
	StreamUnregistered Kind = "stream-unregistered"
	// RegistryBroken: the registry of streams is not what custody wrote:
	// an entry is missing, hidden by a delete marker, has more than one
	// version, does not link to the entry before it, is not signed by a
	// trusted key for the registry, or was stored long after it was signed.
	RegistryBroken Kind = "registry-broken"
)

// Witnesses, checked by custody verify against the store.
const (
	// WitnessAhead: a witness holds a checkpoint of a stream larger than
	// the store's newest manifest, or of a stream the store lacks: the
	// store was truncated, rolled back, or the stream deleted.
	WitnessAhead Kind = "witness-ahead"
	// WitnessFork: a witness holds a checkpoint whose root is not the
	// stream's tree hash at its size: the log was forked or rewritten.
	WitnessFork Kind = "witness-fork"
	// WitnessInvalid: an object in a witness's folder is not a checkpoint
	// copy signed by a trusted key and cosigned by the witness.
	WitnessInvalid Kind = "witness-invalid"
	// WitnessUnreachable: a witness, or one of its copies, could not be
	// read (a warning while another witness could be; with none, verify
	// cannot complete).
	WitnessUnreachable Kind = "witness-unreachable"
	// WitnessNotPinned: a package carries a witness's copies, but the
	// recipient pinned no key for that witness: its cosignatures were not
	// relied on (a warning).
	WitnessNotPinned Kind = "witness-not-pinned"
)

// Sealed artifacts, checked by custody verify.
const (
	// SubjectMalformed: a manifest gives no SHA-256 for a subject.
	SubjectMalformed Kind = "subject-malformed"
	// ArtifactMissing: the version a manifest sealed does not exist.
	ArtifactMissing Kind = "artifact-missing"
	// ArtifactDeleteMarker: a delete marker hides a sealed artifact.
	ArtifactDeleteMarker Kind = "artifact-delete-marker"
	// ArtifactUnreadable: a sealed artifact could not be read whole.
	ArtifactUnreadable Kind = "artifact-unreadable"
	// ArtifactDigestMismatch: an artifact's bytes do not hash to the sealed
	// SHA-256.
	ArtifactDigestMismatch Kind = "artifact-digest-mismatch"
	// ArtifactSizeMismatch: an artifact's size is not the sealed size.
	ArtifactSizeMismatch Kind = "artifact-size-mismatch"
	// ArtifactChecksumMismatch: S3's stored SHA-256 checksum disagrees with
	// the sealed bytes.
	ArtifactChecksumMismatch Kind = "artifact-checksum-mismatch"
	// ArtifactNoChecksum: S3 returned no SHA-256 checksum for a sealed
	// version (a warning).
	ArtifactNoChecksum Kind = "artifact-no-checksum"
	// ArtifactRetentionRemoved: a sealed artifact has no Object Lock
	// retention any more.
	ArtifactRetentionRemoved Kind = "artifact-retention-removed"
	// ArtifactRetentionWeakened: a sealed artifact's retention mode is
	// weaker than sealed.
	ArtifactRetentionWeakened Kind = "artifact-retention-weakened"
	// ArtifactRetentionShortened: a sealed artifact is retained for less
	// time than sealed.
	ArtifactRetentionShortened Kind = "artifact-retention-shortened"
	// ArtifactLegalHoldMissing: an artifact of a case has no legal hold.
	ArtifactLegalHoldMissing Kind = "artifact-legal-hold-missing"
	// UnsealedObject: an object in the store that no manifest seals and
	// verify does not check as part of a stream: a timestamp token of no
	// manifest, an earlier version of a token, anything else in a stream's
	// folder.
	UnsealedObject Kind = "unsealed-object"
	// TimeInconsistent: S3's clock contradicts custody's: a manifest's
	// sealing time is further than verify.clock_tolerance from when S3
	// stored it, or an artifact was stored after the manifest sealing it.
	TimeInconsistent Kind = "time-inconsistent"
	// RetentionBelowPolicy: a manifest, timestamp token or sealed
	// artifact is locked weaker than the configured store.retention,
	// counted from when S3 stored it.
	RetentionBelowPolicy Kind = "retention-below-policy"
	// CaseMissing: --case names a case no verified manifest is of, and
	// some manifests failed verification.
	CaseMissing Kind = "case-missing"
)

// Exported packages, checked by custody verify --bundle.
const (
	// BundleFileMissing: a file the signed statement declares is not in the package.
	BundleFileMissing Kind = "bundle-file-missing"
	// BundleFileUnreadable: a file of the package could not be read.
	BundleFileUnreadable Kind = "bundle-file-unreadable"
	// BundleFileModified: a file does not hash to, or is not the size, the signed statement
	// declares.
	BundleFileModified Kind = "bundle-file-modified"
	// BundleUnlistedFile: a file of the package the signed statement does not declare.
	BundleUnlistedFile Kind = "bundle-unlisted-file"
	// BundleIndexMalformed: an entry of the package's index points outside
	// objects/.
	BundleIndexMalformed Kind = "bundle-index-malformed"
	// SignerNotPinned: verify --bundle was given no trust anchor (--key,
	// --key-id or a configured trust list), so the package's own keys
	// were used and nothing proves who signed: never OK.
	SignerNotPinned Kind = "signer-not-pinned"
	// SignerMismatch: the package carries a key that is not a pinned
	// signer (a package re-signed with another key, whatever its file
	// name), or a pinned key id is in no key of the package.
	SignerMismatch Kind = "signer-mismatch"
	// BundleUnsafe: the package cannot be read safely (an unsafe or
	// undeclared entry, an entry larger than its signed size, a gzip
	// bomb): reading stopped there, having written no more than the
	// signed statement declares.
	BundleUnsafe Kind = "bundle-unsafe"
	// BundleStatementMissing: the package has no signed package statement
	// (package.dsse.json first in the archive).
	BundleStatementMissing Kind = "bundle-statement-missing"
	// BundleStatementInvalid: the package statement is malformed, is not
	// an export event, is not signed by a pinned key, or its subjects do
	// not match package.json, SHA256SUMS or index.json.
	BundleStatementInvalid Kind = "bundle-statement-invalid"
	// BundleStreamUnrecorded: the package holds manifests of a stream the
	// signed statement does not include (a spliced stream).
	BundleStreamUnrecorded Kind = "bundle-stream-unrecorded"
	// BundleManifestUnrecorded: the package holds a manifest past the head
	// the signed statement records for its stream.
	BundleManifestUnrecorded Kind = "bundle-manifest-unrecorded"
	// BundleHeadMismatch: a stream's last manifest in the package is not
	// the head the signed statement records.
	BundleHeadMismatch Kind = "bundle-head-mismatch"
	// BundleExportFailed: the verification at export, recorded in the
	// signed statement, had this failure.
	BundleExportFailed Kind = "bundle-export-failed"
	// BundleProofInvalid: a manifest of the package has no inclusion proof,
	// or its proof does not lead to the stream's log root the signed
	// statement records.
	BundleProofInvalid Kind = "bundle-proof-invalid"
)

// Recorded in manifests when they are sealed; custody verify reports each
// recorded failure as a warning of kind Recorded(kind).
const (
	// RunFailed: a collection run failed; what it stored is sealed all the
	// same.
	RunFailed Kind = "run-failed"
	// SealedAfterCrash: an artifact stored by a run that ended before
	// sealing was sealed by a later reseal (a warning).
	SealedAfterCrash Kind = "sealed-after-crash"
	// SealedAfterLostAnswer: an upload whose answer never came (cancelled,
	// or every try failed) had landed; the run sealed the bytes it read
	// back from the bucket (a warning).
	SealedAfterLostAnswer Kind = "sealed-after-lost-answer"
	// PostureChange: a bucket's security settings changed since the last
	// run (a failure when the change opens the bucket, else a warning).
	PostureChange Kind = "posture-change"
	// PostureAccessDenied: the posture collector was denied a bucket
	// setting; the remedy names the permission (a warning).
	PostureAccessDenied Kind = "posture-access-denied"
	// PostureUnreadable: a bucket setting could not be read (a warning).
	PostureUnreadable Kind = "posture-unreadable"
	// InventoryUnsorted: an S3 Inventory report was not in key order, so
	// the version list was sorted in memory (a warning).
	InventoryUnsorted Kind = "inventory-unsorted"
	// ConfigDeliverFailed: AWS Config could not be asked to deliver a
	// snapshot (a warning).
	ConfigDeliverFailed Kind = "config-deliver-failed"
	// ConfigUnreadable: AWS Config's resources of a type could not be
	// listed (a warning).
	ConfigUnreadable Kind = "config-unreadable"
	// ConfigHistoryUnreadable: a resource's configuration history could
	// not be read (a warning).
	ConfigHistoryUnreadable Kind = "config-history-unreadable"
	// CloudTrailLogMissing: a log file a new digest lists could not be
	// copied; also LogMissing under CloudTrail.
	CloudTrailLogMissing Kind = "cloudtrail-log-missing"
	// CloudTrailKeysUnavailable: CloudTrail's public keys could not be
	// listed, so the digests are preserved unvalidated (a warning).
	CloudTrailKeysUnavailable Kind = "cloudtrail-keys-unavailable"
	// CloudTrailUnvalidated: the copied digests could not be validated
	// (a warning).
	CloudTrailUnvalidated Kind = "cloudtrail-unvalidated"
)

// CloudTrail digests and logs, checked by custody cloudtrail validate (these
// kinds), and by the CloudTrail collector and custody verify's check of the
// preserved copies (the same kinds under CloudTrail).
const (
	// DigestUnreadable: a digest file could not be read.
	DigestUnreadable Kind = "digest-unreadable"
	// DigestMalformed: a digest file is not a CloudTrail digest.
	DigestMalformed Kind = "digest-malformed"
	// DigestMisplaced: a digest names another key or account than where it
	// is stored.
	DigestMisplaced Kind = "digest-misplaced"
	// DigestSignatureInvalid: a digest's signature does not verify, or its
	// algorithm is not CloudTrail's.
	DigestSignatureInvalid Kind = "digest-signature-invalid"
	// DigestSignatureMissing: a digest has no signature in its metadata.
	DigestSignatureMissing Kind = "digest-signature-missing"
	// DigestKeyUnknown: no public key with the digest's fingerprint is
	// valid at its time.
	DigestKeyUnknown Kind = "digest-key-unknown"
	// DigestMissing: an hour of the period has no digest.
	DigestMissing Kind = "digest-missing"
	// DigestChainBroken: a digest's link to the one before does not match.
	DigestChainBroken Kind = "digest-chain-broken"
	// DigestChainRestart: the digest chain restarts, as it does when
	// logging is stopped and started (a warning).
	DigestChainRestart Kind = "digest-chain-restart"
	// LogMalformed: a log file, or its hash algorithm in a digest, is not
	// what CloudTrail writes.
	LogMalformed Kind = "log-malformed"
	// LogMissing: a log file a digest lists is not found.
	LogMissing Kind = "log-missing"
	// LogUnreadable: a log file could not be read.
	LogUnreadable Kind = "log-unreadable"
	// LogHashMismatch: a log file does not hash to what its digest lists.
	LogHashMismatch Kind = "log-hash-mismatch"
)

// The validation kinds as the CloudTrail collector records them and custody
// verify reports them for preserved copies (CloudTrail of each).
const (
	// CloudTrailDigestUnreadable is DigestUnreadable under CloudTrail.
	CloudTrailDigestUnreadable Kind = "cloudtrail-digest-unreadable"
	// CloudTrailDigestMalformed is DigestMalformed under CloudTrail.
	CloudTrailDigestMalformed Kind = "cloudtrail-digest-malformed"
	// CloudTrailDigestMisplaced is DigestMisplaced under CloudTrail.
	CloudTrailDigestMisplaced Kind = "cloudtrail-digest-misplaced"
	// CloudTrailDigestSignatureInvalid is DigestSignatureInvalid under CloudTrail.
	CloudTrailDigestSignatureInvalid Kind = "cloudtrail-digest-signature-invalid"
	// CloudTrailDigestSignatureMissing is DigestSignatureMissing under CloudTrail.
	CloudTrailDigestSignatureMissing Kind = "cloudtrail-digest-signature-missing"
	// CloudTrailDigestKeyUnknown is DigestKeyUnknown under CloudTrail.
	CloudTrailDigestKeyUnknown Kind = "cloudtrail-digest-key-unknown"
	// CloudTrailDigestMissing is DigestMissing under CloudTrail.
	CloudTrailDigestMissing Kind = "cloudtrail-digest-missing"
	// CloudTrailDigestChainBroken is DigestChainBroken under CloudTrail.
	CloudTrailDigestChainBroken Kind = "cloudtrail-digest-chain-broken"
	// CloudTrailDigestChainRestart is DigestChainRestart under CloudTrail.
	CloudTrailDigestChainRestart Kind = "cloudtrail-digest-chain-restart"
	// CloudTrailLogMalformed is LogMalformed under CloudTrail.
	CloudTrailLogMalformed Kind = "cloudtrail-log-malformed"
	// CloudTrailLogUnreadable is LogUnreadable under CloudTrail.
	CloudTrailLogUnreadable Kind = "cloudtrail-log-unreadable"
	// CloudTrailLogHashMismatch is LogHashMismatch under CloudTrail.
	CloudTrailLogHashMismatch Kind = "cloudtrail-log-hash-mismatch"
	// CloudTrailKeysUnreadable: custody verify could not read a preserved
	// list of CloudTrail public keys.
	CloudTrailKeysUnreadable Kind = "cloudtrail-keys-unreadable"
	// CloudTrailKeysMalformed: a preserved list of CloudTrail public keys
	// is not one.
	CloudTrailKeysMalformed Kind = "cloudtrail-keys-malformed"
	// CloudTrailUnverifiable: custody verify could not validate a preserved
	// trail at all.
	CloudTrailUnverifiable Kind = "cloudtrail-unverifiable"
)

// CloudTrail is the kind under which the CloudTrail collector and custody
// verify's check of preserved CloudTrail evidence report a finding of
// CloudTrail validation (DigestMissing becomes CloudTrailDigestMissing).
// LogMissing becomes CloudTrailLogMissing, the collector's own kind.
func CloudTrail(k Kind) Kind { return "cloudtrail-" + k }

// Recorded is the kind under which custody verify reports, as a warning, a
// failure recorded in a manifest when it was sealed (RunFailed becomes
// "recorded-run-failed"): docs/verify.md lists these as recorded-*.
func Recorded(k Kind) Kind { return "recorded-" + k }

// [trail status kinds]

// What a CloudTrail trail records, from the trail-status snapshot every
// CloudTrail run seals.
const (
	// CloudTrailLoggingStopped: the trail is not logging (StopLogging, or
	// never started); the message says since when.
	CloudTrailLoggingStopped Kind = "cloudtrail-logging-stopped"
	// CloudTrailValidationOff: the trail's log file validation is off, so
	// no signed digests prove its log files.
	CloudTrailValidationOff Kind = "cloudtrail-validation-off"
	// CloudTrailTrailDeleted: a trail in the configuration, or one an
	// earlier discovery found, is gone from DescribeTrails.
	CloudTrailTrailDeleted Kind = "cloudtrail-trail-deleted"
	// CloudTrailDataEventsOff: no event selector of the trail records the
	// S3 data events (reads, writes or both) of a monitored bucket of its
	// account, or only of part of it (a warning).
	CloudTrailDataEventsOff Kind = "cloudtrail-data-events-off"
	// CloudTrailStatusUnreadable: part of the trail's status could not be
	// read (DescribeTrails, GetTrailStatus or GetEventSelectors denied or
	// failing); the message names the permission (a warning).
	CloudTrailStatusUnreadable Kind = "cloudtrail-status-unreadable"
)

// [end trail status kinds]

// [access logs kinds]

// Kinds the access-log collector records.
const (
	// AccessLogMalformed: lines of a server access log object that are not
	// records of the documented format (the object is sealed as found).
	AccessLogMalformed Kind = "access-log-malformed"
	// AccessLogsUnreadable: a bucket's logging setting, or a log
	// delivery's listing or object, could not be read; what it holds is
	// collected by a later run once it can be.
	AccessLogsUnreadable Kind = "access-logs-unreadable"
	// BucketUnobserved: a monitored bucket has no server access logging,
	// so unless a trail logs its S3 data events nothing records who read
	// or wrote its objects.
	BucketUnobserved Kind = "bucket-unobserved"
)

// [end access logs kinds]

// [iam, kms kinds]

// IAM and KMS kinds: what the iam and kms collectors see change between
// an account's sealed snapshots, and what they could not read.
const (
	// IAMUserNew: an IAM user appeared since the previous snapshot (a
	// warning).
	IAMUserNew Kind = "iam-user-new"
	// IAMAccessKeyNew: a user has an access key the previous snapshot did
	// not list (a warning: a new way into the account).
	IAMAccessKeyNew Kind = "iam-access-key-new"
	// IAMTrustNew: a role trusts a principal it did not trust before (a
	// failure when the principal is another account or "*", else a
	// warning).
	IAMTrustNew Kind = "iam-trust-new"
	// IAMPolicyChange: a managed or inline policy, or what is attached to
	// a user, group or role, changed (a warning).
	IAMPolicyChange Kind = "iam-policy-change"
	// IAMUnreadable: part of the IAM state (the credential report, a
	// user's access keys) could not be read or parsed; the remedy names
	// the permission when one was missing (a warning).
	IAMUnreadable Kind = "iam-unreadable"
	// KMSKeyChange: a KMS key's policy, grants, rotation or state changed
	// (a failure when the change opens access to the key or schedules its
	// deletion, else a warning).
	KMSKeyChange Kind = "kms-key-change"
	// KMSKeyUnreadable: a KMS key (or the setting naming it) could not be
	// read; the remedy names the permission when one was missing (a
	// warning).
	KMSKeyUnreadable Kind = "kms-key-unreadable"
)

// [end iam, kms kinds]

// [findings, organization kinds]

// What the detector findings and organization collectors record.
const (
	// DetectorFindingOnBucket: a Security Hub or GuardDuty finding of HIGH
	// or CRITICAL severity names a monitored bucket (a warning: custody
	// preserves the finding, the responder judges it).
	DetectorFindingOnBucket Kind = "detector-finding-on-bucket"
	// DetectorsUnavailable: neither Security Hub nor GuardDuty is enabled
	// for a monitored account in a region, so no detector watches it.
	DetectorsUnavailable Kind = "detectors-unavailable"
	// DetectorUnreadable: Security Hub's or GuardDuty's findings could not
	// be read (access denied): the collector role lacks a permission.
	DetectorUnreadable Kind = "detector-unreadable"
	// DetectorFindingMalformed: a detector finding without an id or a
	// readable update time; it is preserved as given.
	DetectorFindingMalformed Kind = "detector-finding-malformed"
	// OrganizationAccountSuspended: an account of the organization is
	// SUSPENDED; it is not collected from.
	OrganizationAccountSuspended Kind = "organization-account-suspended"
)

// [end findings, organization kinds]
