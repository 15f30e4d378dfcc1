// Package contain is custody's containment (playbook Part 2): it freezes a
// bucket against every principal but the responders', deactivates access
// keys and revokes role sessions. Each action seals the state it changes
// (before and after) as a custody event, is journalled step by step so a
// killed run resumes or says what it left, and is reversible from what
// was sealed. It runs under its own role (configs/iam/contain-policy.json),
// never the collector's read-only one.
package contain
