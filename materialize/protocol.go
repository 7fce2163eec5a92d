package materialize

import (
	"path/filepath"

	"github.com/ossmount/ossmount/cache"
)

// The owner socket speaks newline-delimited JSON. The client sends one
// wireRequest line. To "materialize" the owner answers with any number of
// progress lines and ends with exactly one line holding a result or an
// error, then closes; to "status" it answers with one line holding a
// status or an error.
// The client keeps its side open until then: when it goes away (Ctrl-C),
// the owner sees EOF and cancels the request, keeping the blocks fetched so
// far in the cache.

// SocketPath is where the process owning the cache directory cacheDir
// listens for other ossmount processes (mode 0600, inside the 0700
// directory).
func SocketPath(cacheDir string) string { return filepath.Join(cacheDir, "control.sock") }

// protocolVersion changes whenever a message changes incompatibly.
const protocolVersion = 1

// maxLine bounds a message, so a confused peer cannot make the other side
// buffer without end.
const maxLine = 1 << 20

// maxVersionsLine bounds the answer to a versions request, which lists
// every version of the cache (a few hundred bytes each).
const maxVersionsLine = 256 << 20

// The requests the owner serves.
const (
	opMaterialize = "materialize"
	opStatus      = "status"
	opVersions    = "versions" // the cache's versions, for "ossmount cache list"
)

type wireRequest struct {
	V       int     `json:"v"`
	Op      string  `json:"op"`      // opMaterialize, opStatus or opVersions
	Request Request `json:"request"` // for opMaterialize
}

type wireEvent struct {
	Progress *wireProgress        `json:"progress,omitempty"`
	Result   *Result              `json:"result,omitempty"`
	Status   *Status              `json:"status,omitempty"`
	Versions *[]cache.VersionInfo `json:"versions,omitempty"`
	Error    *wireError           `json:"error,omitempty"`
}

type wireProgress struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

type wireError struct {
	Kind    string `json:"kind,omitempty"` // see wireKinds
	Message string `json:"message"`
}
