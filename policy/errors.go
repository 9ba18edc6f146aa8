package policy

import (
	"errors"
	"strings"
)

// FieldError is one reason a policy was rejected. Parse, Validate and
// Store.Apply return these joined with errors.Join, one per problem, so a user
// fixes a file in one pass; errors.As finds the first.
type FieldError struct {
	// Origin says where the policy came from: "policies.yaml: document 2
	// (line 14)", a source name, or an object name.
	Origin string
	// Policy is metadata.name when known.
	Policy string
	// Field is the JSON path inside the document, for example
	// "spec.file.matchPaths[2].path". Empty for document-level problems.
	Field string
	// Reason says what is wrong, in the CRD's terms.
	Reason string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Origin != "" {
		b.WriteString(e.Origin)
		b.WriteString(": ")
	}
	if e.Policy != "" {
		b.WriteString("policy \"")
		b.WriteString(e.Policy)
		b.WriteString("\": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// problem is a FieldError before it knows its origin and policy.
type problem struct {
	field  string
	reason string
}

// problems collects validation failures for one document.
type problems []problem

func (ps *problems) add(field, reason string) {
	*ps = append(*ps, problem{field: field, reason: reason})
}

// join turns the collected problems into one joined error, or nil.
func (ps problems) join(origin, policy string) error {
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, 0, len(ps))
	for _, p := range ps {
		errs = append(errs, &FieldError{Origin: origin, Policy: policy, Field: p.field, Reason: p.reason})
	}
	return errors.Join(errs...)
}

// FieldErrors flattens an error returned by this package into its FieldErrors
// (errors.Join trees included). Errors of other types are dropped.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}
