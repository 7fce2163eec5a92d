package materialize

import (
	"reflect"
	"testing"

	"github.com/ossmount/ossmount/rangefetch"
)

func TestPlanPartsRoundsToBlocksAndKeepsSmallObjectsWhole(t *testing.T) {
	const mib = 1 << 20
	r := func(off, n int64) rangefetch.Range { return rangefetch.Range{Off: off, Len: n} }
	tests := []struct {
		name                      string
		missing                   []rangefetch.Range
		size, part, block, thresh int64
		want                      []rangefetch.Range
	}{
		{
			name:    "large object cut into parts of whole blocks",
			missing: []rangefetch.Range{r(0, 10*mib+5)},
			size:    10*mib + 5, part: 3 * mib, block: mib, thresh: mib,
			want: []rangefetch.Range{r(0, 3*mib), r(3*mib, 3*mib), r(6*mib, 3*mib), r(9*mib, mib+5)},
		},
		{
			name:    "part size rounded up so no block is split",
			missing: []rangefetch.Range{r(0, 4*mib)},
			size:    4 * mib, part: 1500000, block: mib, thresh: 0,
			want: []rangefetch.Range{r(0, 2*mib), r(2*mib, 2*mib)},
		},
		{
			name:    "holes are planned separately",
			missing: []rangefetch.Range{r(mib, mib), r(5*mib, 3*mib)},
			size:    8 * mib, part: 2 * mib, block: mib, thresh: mib,
			want: []rangefetch.Range{r(mib, mib), r(5*mib, 2*mib), r(7*mib, mib)},
		},
		{
			name:    "small object: one GET per hole, however large the hole",
			missing: []rangefetch.Range{r(0, 9*mib)},
			size:    9 * mib, part: mib, block: mib, thresh: 10 * mib,
			want: []rangefetch.Range{r(0, 9*mib)},
		},
		{
			name: "nothing missing", size: 8 * mib, part: mib, block: mib, thresh: mib,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planParts(tt.missing, tt.size, tt.part, tt.block, tt.thresh)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("planParts = %v, want %v", got, tt.want)
			}
			if total(got) != total(tt.missing) {
				t.Fatalf("parts cover %d bytes, missing %d", total(got), total(tt.missing))
			}
		})
	}
}
