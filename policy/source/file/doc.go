// Package file delivers KubeArmorPolicy documents from files and directories.
//
// How it works: Run reads every configured path (a file, or a directory whose
// *.yaml, *.yml and *.json entries are read, hidden entries skipped), parses
// each file with policy.Parse and hands the full set to the sink under one
// source name. It then polls: every Interval it reads the files again and
// compares a SHA-256 over the names and contents with the last attempt. Only a
// change triggers a new parse and Apply. Polling the content (not inotify,
// not only mtimes) is what makes Kubernetes ConfigMap volumes work: they swap
// a "..data" symlink atomically, so a file's own mtime may not change while
// its content does.
//
// An unreadable or invalid file is logged with the file (and the engine's
// document/field message) and the last good set stays in force; the same
// broken content is not retried or logged again until it changes.
package file
