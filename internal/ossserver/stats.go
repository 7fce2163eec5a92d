package ossserver

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
)

// Stats counts what the server did, so tests can assert on real traffic
// (how many GETs reached the server, how many body bytes it sent).
type Stats struct {
	Gets      int64 `json:"gets"`      // GET object requests
	Heads     int64 `json:"heads"`     // HEAD object requests
	Lists     int64 `json:"lists"`     // ListObjects, ListObjectsV2, ListBuckets
	Others    int64 `json:"others"`    // everything else (bucket info, rejected methods, ...)
	BodyBytes int64 `json:"bodyBytes"` // object body bytes written by GETs

	PartialGets   int64 `json:"partialGets"`   // GETs answered 206
	SlowDowns     int64 `json:"slowDowns"`     // GETs answered 503 SlowDown by fault injection
	CutBodies     int64 `json:"cutBodies"`     // bodies cut short by fault injection
	FlippedBodies int64 `json:"flippedBodies"` // bodies with a flipped byte
}

type counters struct {
	gets, heads, lists, others, bodyBytes      atomic.Int64
	partialGets, slowDowns, cutBodies, flipped atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Gets: c.gets.Load(), Heads: c.heads.Load(), Lists: c.lists.Load(), Others: c.others.Load(),
		BodyBytes: c.bodyBytes.Load(), PartialGets: c.partialGets.Load(), SlowDowns: c.slowDowns.Load(),
		CutBodies: c.cutBodies.Load(), FlippedBodies: c.flipped.Load(),
	}
}

func (c *counters) reset() {
	for _, v := range []*atomic.Int64{&c.gets, &c.heads, &c.lists, &c.others, &c.bodyBytes,
		&c.partialGets, &c.slowDowns, &c.cutBodies, &c.flipped} {
		v.Store(0)
	}
}

// Stats returns the counters since the start or the last ResetStats.
func (s *Server) Stats() Stats { return s.counters.snapshot() }

// ResetStats sets every counter to zero.
func (s *Server) ResetStats() { s.counters.reset() }

// serveStats answers GET /-/stats. It needs no signature: no bucket can be
// named "-", and the counters reveal nothing about the data.
func (s *Server) serveStats(w http.ResponseWriter) {
	b, _ := json.Marshal(s.Stats())
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}
