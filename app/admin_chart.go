package app

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/doorstep/doorstep/models"
)

// The dashboard's charts are SVG drawn on the server: no chart library, no
// CDN, and they print and render without JavaScript.

const (
	chartW   = 320.0
	chartH   = 96.0
	chartPad = 4.0
)

// chartSpec says how to draw one series.
type chartSpec struct {
	Label string // what the chart shows, for screen readers
	Unit  string // appended to the values in the hover titles ("", "%", " pts")
	Kind  string // "bars" or "line"
	Scale float64
}

// barChart draws one bar per day; each bar's <title> is its day and value.
func barChart(s models.Series, label string) template.HTML {
	return drawChart(s, chartSpec{Label: label, Kind: "bars", Scale: 1})
}

// lineChart draws the series as a line with the area under it; pct scales
// a 0..1 series to percent.
func lineChart(s models.Series, label string, pct bool) template.HTML {
	spec := chartSpec{Label: label, Kind: "line", Scale: 1}
	if pct {
		spec.Scale, spec.Unit = 100, "%"
	}
	return drawChart(s, spec)
}

func drawChart(s models.Series, spec chartSpec) template.HTML {
	var b strings.Builder
	maxV := 0.0
	total := 0.0
	for _, d := range s {
		v := d.Value * spec.Scale
		maxV = math.Max(maxV, v)
		total += v
	}
	if maxV == 0 {
		maxV = 1
	}
	summary := fmt.Sprintf("%s over %d days", spec.Label, len(s))
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" preserveAspectRatio="none" role="img" aria-label="%s">`,
		chartW, chartH, template.HTMLEscapeString(summary))
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%g" x2="%g" y2="%g"/>`, chartH-0.5, chartW, chartH-0.5)
	if len(s) == 0 {
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	inner := chartH - 2*chartPad
	y := func(v float64) float64 { return chartH - chartPad - v/maxV*inner }
	step := chartW / float64(len(s))
	switch spec.Kind {
	case "bars":
		w := math.Max(step*0.7, 1)
		for i, d := range s {
			v := d.Value * spec.Scale
			h := chartH - chartPad - y(v)
			if v > 0 && h < 1 {
				h = 1
			}
			fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f"><title>%s: %s%s</title></rect>`,
				float64(i)*step+(step-w)/2, chartH-chartPad-h, w, h, d.Day.Format("Jan 2"), trimFloat(v), spec.Unit)
		}
	default:
		pts := make([]string, len(s))
		for i, d := range s {
			pts[i] = fmt.Sprintf("%.2f,%.2f", float64(i)*step+step/2, y(d.Value*spec.Scale))
		}
		fmt.Fprintf(&b, `<polygon class="area" points="%.2f,%g %s %.2f,%g"/>`, step/2, chartH-chartPad, strings.Join(pts, " "),
			float64(len(s)-1)*step+step/2, chartH-chartPad)
		fmt.Fprintf(&b, `<polyline points="%s"/>`, strings.Join(pts, " "))
		for i, d := range s {
			fmt.Fprintf(&b, `<circle cx="%.2f" cy="%.2f" r="%.2f"><title>%s: %s%s</title></circle>`,
				float64(i)*step+step/2, y(d.Value*spec.Scale), math.Min(step/2, 2.5), d.Day.Format("Jan 2"), trimFloat(d.Value*spec.Scale), spec.Unit)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// distChart draws a horizontal distribution (DSAT 1–5 stars).
func distChart(dist [5]int64) template.HTML {
	var total, maxN int64
	for _, n := range dist {
		total += n
		maxN = max(maxN, n)
	}
	if maxN == 0 {
		maxN = 1
	}
	var b strings.Builder
	b.WriteString(`<table class="dist"><caption class="sr">Delivery ratings by stars</caption>`)
	for i := 4; i >= 0; i-- {
		share := 0.0
		if total > 0 {
			share = float64(dist[i]) / float64(total) * 100
		}
		bar := ""
		if dist[i] > 0 {
			bar = fmt.Sprintf(`<span class="bar" style="width:%.1f%%"></span>`, float64(dist[i])/float64(maxN)*100)
		}
		fmt.Fprintf(&b, `<tr><th scope="row">%d ★</th><td>%s</td><td class="num">%d</td><td class="num muted">%.0f%%</td></tr>`,
			i+1, bar, dist[i], share)
	}
	b.WriteString(`</table>`)
	return template.HTML(b.String())
}

func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
