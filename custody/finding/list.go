package finding

// Spec is a kind of finding at one severity it is reported at, and the kind
// of collector (posture, versions, config, cloudtrail) whose runs record it
// in their manifests, if a collector does.
type Spec struct {
	Kind      Kind
	Severity  Severity
	Collector string
}

// Validation is the kinds CloudTrail validation reports, with their
// severities: custody cloudtrail validate reports them as they are, the
// CloudTrail collector and custody verify under CloudTrail.
func Validation() []Spec {
	return []Spec{
		{DigestUnreadable, Failure, ""},
		{DigestMalformed, Failure, ""},
		{DigestMisplaced, Failure, ""},
		{DigestSignatureInvalid, Failure, ""},
		{DigestSignatureMissing, Failure, ""},
		{DigestKeyUnknown, Failure, ""},
		{DigestMissing, Failure, ""},
		{DigestChainBroken, Failure, ""},
		{DigestChainRestart, Warning, ""},
		{LogMalformed, Failure, ""},
		{LogMissing, Failure, ""},
		{LogUnreadable, Failure, ""},
		{LogHashMismatch, Failure, ""},
	}
}

// Kinds lists every kind at every severity it is reported at: what
// docs/verify.md documents and what the agent's custody_findings_total
// starts at zero (Collected).
func Kinds() []Spec {
	f, w := Failure, Warning
	out := []Spec{
		{BucketMissing, f, ""}, {BucketVersioning, f, ""}, {BucketObjectLock, f, ""}, {BucketDefaultRetention, f, ""},
		{BucketPublicAccess, f, ""}, {BucketPublicAccess, w, ""},

		{ManifestMissing, f, ""}, {ManifestDeleteMarker, f, ""}, {ManifestRewritten, f, ""}, {ManifestReordered, f, ""},
		{ManifestMalformed, f, ""}, {ManifestUnreadable, f, ""}, {ManifestMisplaced, f, ""},
		{SignatureUntrusted, f, ""}, {SignatureKeyExpired, f, ""},
		{ChainLinkBroken, f, ""}, {ChainReordered, f, ""},
		{TimestampMissing, f, ""}, {TimestampUnchecked, w, ""}, {TimestampUnreadable, f, ""}, {TimestampInvalid, f, ""}, {TimestampMismatch, f, ""},
		{CheckpointMissing, f, ""}, {CheckpointDeleteMarker, f, ""}, {CheckpointUnreadable, f, ""}, {CheckpointMalformed, f, ""}, {CheckpointMismatch, f, ""},
		{CheckpointFork, f, ""}, {CheckpointRollback, f, ""}, {CheckpointBehind, f, ""}, {CheckpointReplayed, f, ""}, {CheckpointLegacy, w, ""}, {StreamStale, f, ""},
		{WitnessAhead, f, ""}, {WitnessFork, f, ""}, {WitnessInvalid, f, ""}, {WitnessUnreachable, w, ""}, {WitnessNotPinned, w, ""},
		{StreamMissing, f, ""}, {StreamUnregistered, f, ""}, {RegistryBroken, f, ""},

		{SubjectMalformed, f, ""}, {ArtifactMissing, f, ""}, {ArtifactDeleteMarker, f, ""}, {ArtifactUnreadable, f, ""},
		{ArtifactDigestMismatch, f, ""}, {ArtifactSizeMismatch, f, ""}, {ArtifactChecksumMismatch, f, ""}, {ArtifactNoChecksum, w, ""},
		{ArtifactRetentionRemoved, f, ""}, {ArtifactRetentionWeakened, f, ""}, {ArtifactRetentionShortened, f, ""}, {ArtifactLegalHoldMissing, f, ""},
		{UnsealedObject, f, ""}, {CaseMissing, f, ""}, {TimeInconsistent, f, ""}, {RetentionBelowPolicy, f, ""},

		{BundleFileMissing, f, ""}, {BundleFileUnreadable, f, ""},
		{BundleFileModified, f, ""}, {BundleUnlistedFile, f, ""}, {BundleIndexMalformed, f, ""},
		{SignerNotPinned, f, ""}, {SignerMismatch, f, ""}, {BundleUnsafe, f, ""}, {BundleStatementMissing, f, ""},
		{BundleStatementInvalid, f, ""}, {BundleStreamUnrecorded, f, ""}, {BundleManifestUnrecorded, f, ""},
		{BundleHeadMismatch, f, ""}, {BundleExportFailed, f, ""}, {BundleProofInvalid, f, ""},

		{RunFailed, f, ""}, {SealedAfterCrash, w, ""}, {SealedAfterLostAnswer, w, ""},
		// A change is a failure when it opens the bucket.
		{PostureChange, w, "posture"}, {PostureChange, f, "posture"}, {PostureAccessDenied, w, "posture"}, {PostureUnreadable, w, "posture"},
		{InventoryUnsorted, w, "versions"},
		{ConfigDeliverFailed, w, "config"}, {ConfigUnreadable, w, "config"}, {ConfigHistoryUnreadable, w, "config"},
		{CloudTrailLogMissing, f, "cloudtrail"}, {CloudTrailKeysUnavailable, w, "cloudtrail"}, {CloudTrailUnvalidated, w, "cloudtrail"},
		{CloudTrailKeysUnreadable, f, ""}, {CloudTrailKeysMalformed, f, ""}, {CloudTrailUnverifiable, f, ""},
		// [trail status specs]
		{CloudTrailLoggingStopped, f, "cloudtrail"}, {CloudTrailValidationOff, f, "cloudtrail"}, {CloudTrailTrailDeleted, f, "cloudtrail"},
		{CloudTrailDataEventsOff, w, "cloudtrail"}, {CloudTrailStatusUnreadable, w, "cloudtrail"},
		// [end trail status specs]
		// [access logs specs]
		{AccessLogMalformed, w, "accesslogs"}, {AccessLogsUnreadable, w, "accesslogs"}, {BucketUnobserved, w, "accesslogs"},
		// [end access logs specs]
		// [iam, kms specs]
		{IAMUserNew, w, "iam"}, {IAMAccessKeyNew, w, "iam"}, {IAMTrustNew, w, "iam"}, {IAMTrustNew, f, "iam"},
		{IAMPolicyChange, w, "iam"}, {IAMUnreadable, w, "iam"},
		{KMSKeyChange, w, "kms"}, {KMSKeyChange, f, "kms"}, {KMSKeyUnreadable, w, "kms"},
		// [end iam, kms specs]
		// [findings, organization specs]
		{DetectorFindingOnBucket, w, "findings"}, {DetectorsUnavailable, w, "findings"}, {DetectorUnreadable, w, "findings"},
		{DetectorFindingMalformed, w, "findings"}, {OrganizationAccountSuspended, w, "organization"},
		// [end findings, organization specs]
	}
	for _, s := range Validation() {
		out = append(out, s)
		if k := CloudTrail(s.Kind); k != CloudTrailLogMissing { // already listed: the collector's own kind too
			out = append(out, Spec{k, s.Severity, "cloudtrail"})
		}
	}
	return out
}

// Collected lists the kinds of finding the runs of a kind of collector
// record: the agent's custody_findings_total starts at zero for each of
// them and each source, so that an alert sees the first one.
func Collected(collector string) []Spec {
	var out []Spec
	for _, s := range Kinds() {
		if s.Collector == collector && collector != "" {
			out = append(out, s)
		}
	}
	return out
}
