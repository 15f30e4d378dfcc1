// Package collector gathers the evidence the agent preserves: CloudTrail
// digest and log files (validating CloudTrail's signed digest chain), AWS
// Config snapshots and history, bucket security settings, and object
// version lists. Every collector writes through the custody evidence store
// and is sealed by its manifests.
package collector
