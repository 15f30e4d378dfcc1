package search

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"time"
)

// htmlPage is the timeline as one self-contained page: no script, no
// outside resource, so it opens anywhere and can be attached to a report.
var htmlPage = template.Must(template.New("timeline").Funcs(template.FuncMap{
	"ts": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Timeline of s3://{{.Bucket}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;width:100%} td,th{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4} .k{font-family:monospace;font-size:12px;white-space:nowrap}
.posture-change{background:#fff4e0} .iam-change,.kms-change{background:#eef4ff} .err{color:#a00}
.bar{fill:#4a7bd0} .axis{font-size:10px;fill:#555}
</style></head><body>
<h1>Timeline of s3://{{.Bucket}}</h1>
<p>From {{ts .Since}} to {{ts .Until}}: {{len .Entries}} entries, from sealed evidence (custody {{.Tool}}), generated {{ts .Generated}}.</p>
<h2>Activity per principal</h2>
{{range .Histogram}}<div class="principal"><div class="k">{{.Principal}} ({{.Total}})</div>
<svg width="{{.Width}}" height="44" role="img" aria-label="activity of {{.Principal}} per hour">{{range .Bars}}<rect class="bar" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Label}}</title></rect>{{end}}
<text class="axis" x="0" y="42">{{ts $.Since}}</text></svg></div>
{{end}}
<h2>Entries</h2>
<table id="timeline"><thead><tr><th>time</th><th>kind</th><th>who</th><th>what</th><th>evidence</th></tr></thead><tbody>
{{range .Entries}}<tr class="{{.Kind}}" data-kind="{{.Kind}}"><td class="k">{{ts .Time}}</td><td>{{.Kind}}</td><td class="k">{{.Principal}}</td><td{{if .Record}}{{if .Record.Error}} class="err"{{end}}{{end}}>{{.Summary}}</td><td class="k">{{if .Record}}{{.Record.Evidence.Manifest}}{{else if .CausedBy}}{{.CausedBy.Evidence.Manifest}}{{else if .Change}}{{.Change.Manifest}}{{end}}</td></tr>
{{end}}</tbody></table>
</body></html>
`))

type htmlBar struct {
	X, Y, W, H int
	Label      string
}

type htmlPrincipal struct {
	Principal    string
	Total, Width int
	Bars         []htmlBar
}

// WriteHTML writes the timeline page.
func WriteHTML(w io.Writer, bucket string, since, until time.Time, es []Entry, tool string, now time.Time) error {
	hours := max(1, int(until.Sub(since).Hours())+1)
	barW := max(2, min(12, 900/hours))
	var hist []htmlPrincipal
	for p, byHour := range ActivityByPrincipal(es) {
		hp := htmlPrincipal{Principal: p, Width: hours * barW}
		peak := 1
		for _, n := range byHour {
			peak = max(peak, n)
		}
		for h, n := range byHour {
			i := int(h.Sub(since.Truncate(time.Hour)).Hours())
			ht := max(1, 30*n/peak)
			hp.Total += n
			hp.Bars = append(hp.Bars, htmlBar{X: i * barW, Y: 30 - ht, W: barW - 1, H: ht, Label: fmt.Sprintf("%s: %d", h.UTC().Format(time.RFC3339), n)})
		}
		sort.Slice(hp.Bars, func(i, j int) bool { return hp.Bars[i].X < hp.Bars[j].X })
		hist = append(hist, hp)
	}
	sort.Slice(hist, func(i, j int) bool {
		return hist[i].Total > hist[j].Total || hist[i].Total == hist[j].Total && hist[i].Principal < hist[j].Principal
	})
	return htmlPage.Execute(w, map[string]any{"Bucket": bucket, "Since": since, "Until": until, "Entries": es, "Histogram": hist, "Tool": tool, "Generated": now})
}
