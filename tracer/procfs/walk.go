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
	// isLink=false for anything else that exists (isDir says whether it is
	// a directory), and an error wrapping fs.ErrNotExist when the path does
	// not exist.
	Readlink(path string) (target string, isLink, isDir bool, err error)
}

// MagicKind says what kind of procfs link a path is.
type MagicKind uint8

const (
	// NotMagic: an ordinary path; look it up in the file system.
	NotMagic MagicKind = iota
	// SelfLink: /proc/self, /proc/thread-self. Symlinks whose target
	// depends on who reads them, but a target that is a name like any other.
	SelfLink
	// ObjectLink: /proc/<pid>/fd/N, cwd, root, exe, ns/*, map_files/*. They
	// lead to an object, not to a name: their readlink text says where it
	// is, but opening that text need not reach it (deleted files, other
	// mount namespaces, renames since).
	ObjectLink
)

// Magic resolves magic links (proc's /proc/<pid>/fd/N and friends). It
// returns NotMagic for paths that are not magic.
type Magic interface {
	Resolve(path string) (target string, kind MagicKind, err error)
}

// Walker resolves paths inside one tracee's view.
type Walker struct {
	FS    Lookup
	Magic Magic // may be nil
	// Plain, if set, looks rest up from the absolute directory start in one
	// go where that follows no symlink, as plainLookup does: ok true means
	// the walk would have reached what it returns, ok false only that it
	// must walk on. The walk tries it after each link it follows, so a
	// path with one link on the way (/lib/x86_64-linux-gnu/libc.so.6 under
	// a merged /usr) costs that link's lookups and one more, not a lookup
	// per component.
	Plain func(start, rest string, followFinal bool) (r Walked, ok bool)
}

// Walked is what a walk found.
type Walked struct {
	// Path is the absolute path the kernel would use: what a policy judges.
	Path string
	// Plain spells Path so that a lookup following no symlink at all gets
	// there: the directories walked, each link replaced by where it led,
	// then whatever did not exist (yet) exactly as written, dots included.
	// Handed to the kernel with RESOLVE_NO_SYMLINKS, it can only reach
	// Path: a link swapped in after the walk fails the lookup (ELOOP)
	// instead of leading elsewhere, and a missing directory created since
	// is walked as the text says, which is how Path was computed. Empty
	// when there is no such spelling: the walk went through an ObjectLink,
	// ended at an object (pipe:[12]) or failed.
	Plain string
	// Links are the symlinks the walk followed, in order, as absolute paths
	// of this view. A kernel handed Plain follows none of them, so it does
	// not apply fs.protected_symlinks to them: the caller must.
	Links []string
}

// Walk resolves path starting at the absolute directory start, as the
// kernel would: root clamps ".." and is where absolute paths and absolute
// symlinks begin (normally "/"; the dirfd for RESOLVE_IN_ROOT). If
// followFinal is false the last component is not followed.
//
// On ELOOP it returns the lexical path and ErrLoop. A result that is not a
// path ("pipe:[12]", "socket:[34]", "anon_inode:[...]") is returned as is.
func (w Walker) Walk(root, start, path string, followFinal bool) (string, error) {
	r, err := w.WalkPlain(root, start, path, followFinal)
	return r.Path, err
}

// WalkPlain is Walk, and also says how to spell its result without
// symlinks (Walked.Plain) and which links it followed.
func (w Walker) WalkPlain(root, start, path string, followFinal bool) (Walked, error) {
	if root == "" {
		root = "/"
	}
	cur := start
	if strings.HasPrefix(path, "/") || cur == "" {
		cur = root
	}
	queue := split(path)
	links := 0
	var followed []string
	plain := true
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
			target, kind, err := w.Magic.Resolve(next)
			if err != nil {
				return Walked{Path: lexical(next, queue)}, err
			}
			if kind != NotMagic {
				if !strings.HasPrefix(target, "/") {
					// pipe:[..], socket:[..]: an object, not a directory.
					return Walked{Path: target}, nil
				}
				if kind == ObjectLink {
					plain = false
				}
				cur = strings.TrimSuffix(target, " (deleted)")
				continue
			}
		}
		target, isLink, isDir, err := w.FS.Readlink(next)
		if err == nil && !isLink && !isDir && !last {
			// More follows, even just "." or "..": the kernel fails here.
			err = syscall.ENOTDIR
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				// The rest does not exist (yet): the kernel would create or
				// fail here. Keep what was written.
				r := Walked{Path: lexical(next, queue), Links: followed}
				if plain {
					r.Plain = verbatim(next, queue)
				}
				return r, nil
			}
			return Walked{Path: lexical(next, queue)}, err
		}
		if !isLink {
			cur = next
			continue
		}
		links++
		if links > MaxSymlinks {
			return Walked{Path: lexical(next, queue)}, ErrLoop
		}
		followed = append(followed, next)
		if strings.HasPrefix(target, "/") {
			cur = root
		}
		queue = append(split(target), queue...)
		if w.Plain != nil && plain && len(queue) > 0 {
			if r, ok := w.Plain(cur, strings.Join(queue, "/"), followFinal); ok {
				r.Links = followed
				return r, nil
			}
		}
	}
	r := Walked{Path: cur, Links: followed}
	if plain {
		r.Plain = cur
	}
	return r, nil
}

// verbatim appends the remaining components to base as written, dots and
// all: a lookup of the result fails where the kernel's own would, at the
// first component that does not exist.
func verbatim(base string, rest []string) string {
	if len(rest) == 0 {
		return base
	}
	return join(base, strings.Join(rest, "/"))
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
