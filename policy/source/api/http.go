package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/bluelock/bluelock/policy"
	"github.com/bluelock/bluelock/policy/source/internal/docs"
)

// MaxBody bounds a pushed payload.
const MaxBody = 4 << 20

// Handler is the HTTP API over a Set.
func Handler(set *Set, logger *slog.Logger) http.Handler {
	h := &httpAPI{set: set, logger: logger.With("api", "http")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /policies", h.list)
	mux.HandleFunc("POST /policies", h.push(false))
	mux.HandleFunc("PUT /policies", h.push(true))
	mux.HandleFunc("DELETE /policies/{name}", h.delete)
	return mux
}

type httpAPI struct {
	set    *Set
	logger *slog.Logger
}

type listReply struct {
	// API is what was pushed through this API (gRPC or HTTP).
	API []string `json:"api"`
	// InForce is every policy in force, from all sources.
	InForce []string `json:"inForce"`
}

type pushReply struct {
	Applied []string `json:"applied"`
}

type errorReply struct {
	Error string `json:"error"`
}

func (h *httpAPI) list(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, listReply{API: nonNil(h.set.Names()), InForce: nonNil(h.set.InForce())})
}

func (h *httpAPI) push(replace bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			h.fail(w, http.StatusRequestEntityTooLarge, fmt.Errorf("read body: %w", err))
			return
		}
		ps, err := parseBody(body, h.set.parse)
		if err != nil {
			h.fail(w, http.StatusBadRequest, err)
			return
		}
		if len(ps) == 0 && !replace {
			h.fail(w, http.StatusBadRequest, errors.New("no policy in the request body"))
			return
		}
		if replace {
			err = h.set.Replace(ps)
		} else {
			_, err = h.set.Upsert(ps)
		}
		if err != nil {
			h.fail(w, http.StatusBadRequest, err)
			return
		}
		names := make([]string, 0, len(ps))
		for _, p := range ps {
			names = append(names, p.Metadata.Name)
		}
		writeJSON(w, http.StatusOK, pushReply{Applied: names})
	}
}

func (h *httpAPI) delete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := h.set.Delete(name); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrNotExist) {
			status = http.StatusNotFound
		}
		h.fail(w, status, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": name})
}

func (h *httpAPI) fail(w http.ResponseWriter, status int, err error) {
	h.logger.Warn("policy push refused", "status", status, "err", err)
	writeJSON(w, status, errorReply{Error: err.Error()})
}

// parseBody splits a payload into documents and parses each one, so errors
// name the document (index and metadata.name) the engine refused.
func parseBody(body []byte, parse ParseFunc) ([]policy.KubeArmorPolicy, error) {
	ds, err := docs.Split(body)
	if err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	var out []policy.KubeArmorPolicy
	seen := map[string]int{}
	for _, d := range ds {
		origin := fmt.Sprintf("request document %d", d.Index)
		if d.Name == "" {
			return nil, fmt.Errorf("%s: metadata.name is required", origin)
		}
		origin += " (" + d.Name + ")"
		if prev, dup := seen[d.Name]; dup {
			return nil, fmt.Errorf("%s: metadata.name %q repeats document %d", origin, d.Name, prev)
		}
		seen[d.Name] = d.Index
		ps, err := parse(d.Data, origin)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// bearer extracts the token of an "Authorization: Bearer <token>" value.
func bearer(v string) (string, bool) {
	const p = "bearer "
	if len(v) < len(p) || !strings.EqualFold(v[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(v[len(p):]), true
}
