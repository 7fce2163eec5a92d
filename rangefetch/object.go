package rangefetch

import "github.com/ossmount/ossmount/object"

// ListPage is one page of a delimited listing.
type ListPage struct {
	Objects   []object.Info // without CRC64
	Prefixes  []string      // common prefixes ("dir/"), i.e. sub-directories
	NextToken string        // "" on the last page
}
