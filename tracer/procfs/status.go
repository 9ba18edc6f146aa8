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
// status text.
func ParseStatus(b []byte) (Status, error) {
	var st Status
	var seen int
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
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
		switch string(k) {
		case "Tgid":
			st.Tgid, seen = n, seen|1
		case "PPid":
			st.PPid, seen = n, seen|2
		case "Uid":
			st.UID, seen = n, seen|4
			st.FSUID = n
			if len(f) == 4 {
				if fs, err := strconv.Atoi(f[3]); err == nil {
					st.FSUID = fs
				}
			}
		}
	}
	if seen != 7 {
		return st, errors.New("status: missing Tgid, PPid or Uid")
	}
	return st, nil
}
