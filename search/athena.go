package search

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Athena is the evidence store as Athena tables: LOCATION and partition
// projection templates that follow the store's key layout
// (<prefix>/<account>/<region>/<kind>/<yyyy>/<mm>/<dd>/<run>/...: the date
// is the collection day), so that an organization's years of sealed logs
// can be queried where they lie.
type Athena struct {
	Bucket, Prefix string
	// Table is the CloudTrail table's name (default custody_cloudtrail).
	Table string
	// Accounts and Regions are the partition values to project.
	Accounts, Regions []string
	// FirstDay is the first collection day to project (yyyy/MM/dd).
	FirstDay time.Time
}

// CloudTrailLocationTemplate is where the CloudTrail collector's files of
// one account, region and collection day lie.
func (a Athena) CloudTrailLocationTemplate() string {
	return fmt.Sprintf("s3://%s/%s${account}/${region}/cloudtrail/${day}/", a.Bucket, a.prefix())
}

func (a Athena) prefix() string {
	p := strings.Trim(a.Prefix, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

func (a Athena) table() string {
	if a.Table == "" {
		return "custody_cloudtrail"
	}
	return a.Table
}

// AccessLogLocationTemplate is where the accesslogs collector's files of
// one account, region and collection day lie.
func (a Athena) AccessLogLocationTemplate() string {
	return fmt.Sprintf("s3://%s/%s${account}/${region}/accesslogs/${day}/", a.Bucket, a.prefix())
}

// AccessLogRegex is the access-log table's input.regex, as Hive reads it
// from the DDL (each backslash doubled there): every documented field, in
// order, the later ones optional as AWS added them over time; quoted
// fields whole, quotes included.
const AccessLogRegex = `([^ ]*) ([^ ]*) \[(.*?)\] ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) (-|[0-9]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) ("[^"]*"|-)(?: ([^ ]*))?(?: ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*))?(?: ([^ ]*) ([^ ]*))?.*$`

// AccessLogColumns are the access-log table's columns, one per group of
// AccessLogRegex.
var AccessLogColumns = []string{"bucketowner", "bucket_name", "requestdatetime", "remoteip", "requester", "requestid", "operation", "key", "request_uri",
	"httpstatus", "errorcode", "bytessent", "objectsize", "totaltime", "turnaroundtime", "referrer", "useragent", "versionid", "hostid", "sigv",
	"ciphersuite", "authtype", "endpoint", "tlsversion", "accesspointarn", "aclrequired"}

func (a Athena) accessTable() string { return a.table() + "_access_logs" }

// AccessLogDDL is the CREATE TABLE statement of the store's S3 server
// access logs, with the regex SerDe, partitioned as the CloudTrail table.
func (a Athena) AccessLogDDL() string {
	cols := make([]string, len(AccessLogColumns))
	for i, c := range AccessLogColumns {
		cols[i] = "  `" + c + "` string"
	}
	return fmt.Sprintf(`CREATE EXTERNAL TABLE IF NOT EXISTS %s (
%s
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe'
WITH SERDEPROPERTIES ('input.regex' = '%s')
%s`, a.accessTable(), strings.Join(cols, ",\n"), strings.ReplaceAll(AccessLogRegex, `\`, `\\`), a.partitioning(a.AccessLogLocationTemplate()))
}

// TemplateRegexp turns a storage.location.template into a regular
// expression over s3:// URIs, one group per projected column: what the
// test holds the collectors' keys against.
func TemplateRegexp(template string) *regexp.Regexp {
	parts := regexp.MustCompile(`\$\{([a-z]+)\}`).Split(template, -1)
	names := regexp.MustCompile(`\$\{([a-z]+)\}`).FindAllStringSubmatch(template, -1)
	var b strings.Builder
	b.WriteString("^")
	for i, p := range parts {
		b.WriteString(regexp.QuoteMeta(p))
		if i < len(names) {
			switch names[i][1] {
			case "day":
				b.WriteString(`(?P<day>\d{4}/\d{2}/\d{2})`)
			default:
				b.WriteString(`(?P<` + names[i][1] + `>[^/]+)`)
			}
		}
	}
	return regexp.MustCompile(b.String())
}

// CloudTrailDDL is the CREATE TABLE statement of the CloudTrail table.
// Every file under a partition is read; the JSON SerDe maps each file's
// Records array (digests, key lists and trail-status snapshots, which have
// none, give no rows), so queries UNNEST records.
func (a Athena) CloudTrailDDL() string {
	return fmt.Sprintf(`CREATE EXTERNAL TABLE IF NOT EXISTS %s (
  records array<struct<
    eventversion:string,
    useridentity:struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,accesskeyid:string,username:string,
      sessioncontext:struct<sessionissuer:struct<type:string,principalid:string,arn:string,accountid:string,username:string>>>,
    eventtime:string,
    eventsource:string,
    eventname:string,
    awsregion:string,
    sourceipaddress:string,
    useragent:string,
    errorcode:string,
    errormessage:string,
    requestparameters:string,
    responseelements:string,
    additionaleventdata:string,
    requestid:string,
    eventid:string,
    readonly:string,
    resources:array<struct<arn:string,accountid:string,type:string>>,
    eventtype:string,
    managementevent:boolean,
    recipientaccountid:string,
    eventcategory:string>>
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
%s`, a.table(), a.partitioning(a.CloudTrailLocationTemplate()))
}

// partitioning is a table's partitions (account, region, collection day),
// LOCATION and partition projection over template.
func (a Athena) partitioning(template string) string {
	first := a.FirstDay
	if first.IsZero() {
		first = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return fmt.Sprintf(`PARTITIONED BY (account string, region string, day string)
LOCATION 's3://%s/%s'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.account.type' = 'enum',
  'projection.account.values' = '%s',
  'projection.region.type' = 'enum',
  'projection.region.values' = '%s',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.range' = '%s,NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = '%s'
);
`, a.Bucket, a.prefix(), strings.Join(a.Accounts, ","), strings.Join(a.Regions, ","), first.UTC().Format("2006/01/02"), template)
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func sqlList(vals []string, fold bool) string {
	var q []string
	for _, v := range vals {
		if fold {
			v = strings.ToLower(v)
		}
		q = append(q, sqlString(v))
	}
	return strings.Join(q, ", ")
}

// globLike turns a --key glob (or prefix) into a LIKE pattern with '\'
// as its escape.
func globLike(pattern string) string {
	var b strings.Builder
	glob := strings.ContainsAny(pattern, "*?[")
	for _, c := range pattern {
		switch {
		case c == '%' || c == '_' || c == '\\':
			b.WriteString(`\` + string(c))
		case glob && c == '*':
			b.WriteString("%")
		case glob && c == '?':
			b.WriteString("_")
		default:
			b.WriteRune(c)
		}
	}
	if !glob {
		b.WriteString("%")
	}
	return b.String()
}

// CloudTrailQuery is the SQL of a custody search over the CloudTrail
// table: the same filters (a --key character class [...] is widened to
// any one character), and the collection days that can hold the window
// (a file is collected after the records in it, so only days from
// since's on).
func (a Athena) CloudTrailQuery(f Filter) string {
	where := []string{}
	if !f.Since.IsZero() {
		where = append(where, "day >= "+sqlString(f.Since.UTC().Format("2006/01/02")))
		where = append(where, "from_iso8601_timestamp(r.eventtime) >= from_iso8601_timestamp("+sqlString(f.Since.UTC().Format(time.RFC3339))+")")
	}
	if !f.Until.IsZero() {
		where = append(where, "from_iso8601_timestamp(r.eventtime) <= from_iso8601_timestamp("+sqlString(f.Until.UTC().Format(time.RFC3339))+")")
	}
	if len(f.AccessKeys) > 0 {
		where = append(where, "r.useridentity.accesskeyid IN ("+sqlList(f.AccessKeys, false)+")")
	}
	if len(f.Principals) > 0 {
		l := sqlList(f.Principals, true)
		where = append(where, fmt.Sprintf("(lower(r.useridentity.arn) IN (%[1]s) OR lower(r.useridentity.sessioncontext.sessionissuer.arn) IN (%[1]s) OR lower(r.useridentity.sessioncontext.sessionissuer.username) IN (%[1]s) OR lower(r.useridentity.username) IN (%[1]s) OR lower(r.useridentity.principalid) IN (%[1]s) OR lower(element_at(split(r.useridentity.arn, '/'), -1)) IN (%[1]s))", l))
	}
	if len(f.SourceIPs) > 0 {
		var ors []string
		for _, ip := range f.SourceIPs {
			if _, err := netip.ParsePrefix(ip); err == nil {
				ors = append(ors, fmt.Sprintf("contains(%s, try_cast(r.sourceipaddress AS ipaddress))", sqlString(ip)))
			} else {
				ors = append(ors, "r.sourceipaddress = "+sqlString(ip))
			}
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	if len(f.Buckets) > 0 {
		where = append(where, "json_extract_scalar(r.requestparameters, '$.bucketName') IN ("+sqlList(f.Buckets, false)+")")
	}
	if f.Key != "" {
		where = append(where, "json_extract_scalar(r.requestparameters, '$.key') LIKE "+sqlString(regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(globLike(f.Key), "_"))+` ESCAPE '\'`)
	}
	if len(f.Events) > 0 {
		where = append(where, "lower(r.eventname) IN ("+sqlList(f.Events, true)+")")
	}
	if f.Errors {
		where = append(where, "r.errorcode IS NOT NULL")
	}
	q := fmt.Sprintf(`SELECT r.eventtime AS time, r.useridentity.arn AS principal, r.useridentity.accesskeyid AS access_key, r.eventname AS action,
  json_extract_scalar(r.requestparameters, '$.bucketName') AS bucket, json_extract_scalar(r.requestparameters, '$.key') AS key,
  coalesce(json_extract_scalar(r.responseelements, '$["x-amz-version-id"]'), json_extract_scalar(r.requestparameters, '$.versionId')) AS version_id,
  coalesce(r.errorcode, 'OK') AS status, r.sourceipaddress AS source_ip, r.requestid AS request_id, r.eventid AS event_id,
  "$path" AS evidence_object
FROM %s CROSS JOIN UNNEST(records) AS t (r)`, a.table())
	if len(where) > 0 {
		q += "\nWHERE " + strings.Join(where, "\n  AND ")
	}
	return q + "\nORDER BY r.eventtime;\n"
}
