package testutil

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// SeriesByLabel gathers reg and returns the value of every counter or gauge
// series of the metric name, summed by the value of its label label ("" for
// series without it): the way to check that two components on one registry
// count apart.
func SeriesByLabel(t testing.TB, reg prometheus.Gatherer, name, label string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					key = l.GetValue()
				}
			}
			switch {
			case m.GetCounter() != nil:
				out[key] += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] += m.GetGauge().GetValue()
			}
		}
	}
	return out
}
