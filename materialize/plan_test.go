package materialize

import (
	"testing"
)

func TestPlanFetchOneGETBelowTheThresholdPartsAbove(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name                string
		size, part, thresh  int64
		threads             int
		wantWorkers         int
		wantRunBytesAtLeast int64
		wantRunBytesExactly int64
	}{
		{name: "small object: one run as long as the object", size: 9 * mib, part: mib, thresh: 10 * mib, threads: 16,
			wantWorkers: 16, wantRunBytesAtLeast: 9 * mib},
		{name: "large object: runs of the part size", size: 64 * mib, part: 16 * mib, thresh: 10 * mib, threads: 16,
			wantWorkers: 16, wantRunBytesExactly: 16 * mib},
		{name: "threshold 1: even a small object is cut into parts", size: 3 * mib, part: mib, thresh: 1, threads: 4,
			wantWorkers: 4, wantRunBytesExactly: mib},
		{name: "empty object", size: 0, part: mib, thresh: 10 * mib, threads: 2,
			wantWorkers: 2, wantRunBytesAtLeast: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{Threads: tt.threads, PartSize: tt.part, MultigetThreshold: tt.thresh}
			o := planFetch(tt.size, req)
			if o.Workers != tt.wantWorkers {
				t.Errorf("workers %d, want %d", o.Workers, tt.wantWorkers)
			}
			if tt.wantRunBytesExactly != 0 && o.RunBytes != tt.wantRunBytesExactly {
				t.Errorf("run bytes %d, want %d", o.RunBytes, tt.wantRunBytesExactly)
			}
			if o.RunBytes < tt.wantRunBytesAtLeast {
				t.Errorf("run bytes %d, want at least %d", o.RunBytes, tt.wantRunBytesAtLeast)
			}
		})
	}
}
