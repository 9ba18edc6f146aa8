package procfs

import (
	"bytes"
	"errors"
	"fmt"
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

// Creds is what decides which files a thread's open may reach: its
// file-system ids, supplementary groups and effective capabilities, as
// /proc/<tid>/status prints them. The kernel prints groups sorted, so two
// equal sets print alike. (User namespaces, the other part, are refused to
// tracees by the filter.)
type Creds struct {
	FSUID, FSGID int
	Groups       string
	CapEff       uint64
}

// ParseCreds reads Creds from status text.
func ParseCreds(b []byte) (Creds, error) {
	var c Creds
	var seen int
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		f := strings.Fields(string(v))
		switch string(k) {
		case "Uid", "Gid":
			if len(f) != 4 {
				return c, fmt.Errorf("status: %s line has %d fields, want 4", k, len(f))
			}
			n, err := strconv.Atoi(f[3])
			if err != nil {
				return c, fmt.Errorf("status: %s: %w", k, err)
			}
			if k[0] == 'U' {
				c.FSUID, seen = n, seen|1
			} else {
				c.FSGID, seen = n, seen|2
			}
		case "Groups":
			c.Groups, seen = strings.Join(f, " "), seen|4
		case "CapEff":
			if len(f) != 1 {
				return c, errors.New("status: bad CapEff line")
			}
			n, err := strconv.ParseUint(f[0], 16, 64)
			if err != nil {
				return c, fmt.Errorf("status: CapEff: %w", err)
			}
			c.CapEff, seen = n, seen|8
		}
	}
	if seen != 15 {
		return c, errors.New("status: missing Uid, Gid, Groups or CapEff")
	}
	return c, nil
}
