package fs

import (
	"os"

	"github.com/hanwen/go-fuse/v2/splice"
)

// maxRead is the largest READ the kernel is asked to send: 1 MiB (one
// cache block per request), less what a spliced reply needs besides the
// data if the pipe cannot hold it all. go-fuse grows a pipe to the reply
// header plus the data plus one page, and gives up splicing (copying the
// bytes through this process instead) when that exceeds the system's pipe
// limit, which is 1 MiB by default.
func maxRead() int {
	const want = 1 << 20
	page := os.Getpagesize()
	limit := splice.MaxPipeSize() - 2*page // the header rounds up to a page, plus go-fuse's spare page
	if limit >= want || limit < 128<<10 {
		return want
	}
	return limit / page * page
}
