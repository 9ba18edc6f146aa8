package procfs

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
)

// MaxSymlinks is the kernel's limit on symlinks followed in one lookup.
const MaxSymlinks = 40

// ErrLoop is returned when a path follows more than MaxSymlinks links; the
// kernel fails such a syscall with ELOOP.
var ErrLoop = errors.New("too many levels of symbolic links")

// Lookup is what a walk needs from a file system: is this (tracee-view,
// absolute) path a symlink, and what does it point to.
type Lookup interface {
	// Readlink returns the link target and isLink=true for a symlink,
	// isLink=false for anything else that exists, and an error wrapping
	// fs.ErrNotExist when the path does not exist.
	Readlink(path string) (target string, isLink bool, err error)
}

// Magic resolves magic links (proc's /proc/<pid>/fd/N and friends). It
// returns ok=false for paths that are not magic.
type Magic interface {
	Resolve(path string) (target string, ok bool, err error)
}

// Walker resolves paths inside one tracee's view.
type Walker struct {
	FS    Lookup
	Magic Magic // may be nil
}

// Walk resolves path starting at the absolute directory start, as the
// kernel would: root clamps ".." and is where absolute paths and absolute
// symlinks begin (normally "/"; the dirfd for RESOLVE_IN_ROOT). If
// followFinal is false the last component is not followed.
//
// On ELOOP it returns the lexical path and ErrLoop. A result that is not a
// path ("pipe:[12]", "socket:[34]", "anon_inode:[...]") is returned as is.
func (w Walker) Walk(root, start, path string, followFinal bool) (string, error) {
	if root == "" {
		root = "/"
	}
	cur := start
	if strings.HasPrefix(path, "/") || cur == "" {
		cur = root
	}
	queue := split(path)
	links := 0
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		last := len(queue) == 0
		switch c {
		case ".":
			continue
		case "..":
			if cur != root {
				cur = parent(cur)
			}
			continue
		}
		next := join(cur, c)
		if last && !followFinal {
			cur = next
			break
		}
		if w.Magic != nil {
			target, ok, err := w.Magic.Resolve(next)
			if err != nil {
				return lexical(next, queue), err
			}
			if ok {
				if !strings.HasPrefix(target, "/") {
					// pipe:[..], socket:[..]: an object, not a directory.
					return target, nil
				}
				cur = strings.TrimSuffix(target, " (deleted)")
				continue
			}
		}
		target, isLink, err := w.FS.Readlink(next)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				// The rest does not exist (yet): the kernel would create or
				// fail here. Keep what was written.
				return lexical(next, queue), nil
			}
			return lexical(next, queue), err
		}
		if !isLink {
			cur = next
			continue
		}
		links++
		if links > MaxSymlinks {
			return lexical(next, queue), ErrLoop
		}
		if strings.HasPrefix(target, "/") {
			cur = root
		}
		queue = append(split(target), queue...)
	}
	return cur, nil
}

// lexical appends the remaining components to base without looking at the
// file system (they do not exist), applying ".." textually.
func lexical(base string, rest []string) string {
	cur := base
	for _, c := range rest {
		switch c {
		case ".":
		case "..":
			cur = parent(cur)
		default:
			cur = join(cur, c)
		}
	}
	return cur
}

func split(p string) []string {
	parts := strings.Split(p, "/")
	out := parts[:0]
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}
