package procfs

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// Status is what the tracer caches from /proc/<pid>/status.
type Status struct {
	Tgid, PPid int
	UID        int // real uid
	FSUID      int // the uid file-system checks use (fs/namei.c)
}

// ParseStatus reads Tgid, PPid and the real and file-system uids from
// status text. It stops at the Uid line (the kernel prints all three within
// the first ten of some sixty) and splits only the lines it wants: the
// stop loop parses a status at every fork.
func ParseStatus(b []byte) (Status, error) {
	var st Status
	var seen int
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var bit int
		switch string(k) {
		case "Tgid":
			bit = 1
		case "PPid":
			bit = 2
		case "Uid":
			bit = 4
		default:
			continue
		}
		f := strings.Fields(string(v))
		if len(f) == 0 {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		switch bit {
		case 1:
			st.Tgid = n
		case 2:
			st.PPid = n
		case 4:
			st.UID, st.FSUID = n, n
			if len(f) == 4 {
				if fs, err := strconv.Atoi(f[3]); err == nil {
					st.FSUID = fs
				}
			}
		}
		if seen |= bit; seen == 7 {
			return st, nil
		}
	}
	return st, errors.New("status: missing Tgid, PPid or Uid")
}
