package schema

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Validate checks the semantic rules of a KubeArmor event: required fields,
// known Type/Operation/Action values, Severity "" or "1".."10", UpdatedTime
// in RFC 3339, and an Alert/Log that matches its Type. The rules are listed
// in doc.go and mirrored by kubearmor-event.schema.json. The error names
// every offending field.
func (e Event) Validate() error {
	fe := e.validate()
	if len(fe) == 0 {
		return nil
	}
	errs := make([]error, len(fe))
	for i, f := range fe {
		errs[i] = f
	}
	return errors.Join(errs...)
}

func (e Event) validate() []*FieldError {
	if e.Alert != nil && e.Log != nil {
		return []*FieldError{{Msg: "both Alert and Log are set"}}
	}
	if e.Alert == nil && e.Log == nil {
		return []*FieldError{{Msg: errEmptyEvent.Error()}}
	}
	var out []*FieldError
	add := func(field, format string, args ...any) {
		out = append(out, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	var (
		ts                                       int64
		updated, host, typ, op, resource, result string
	)
	if a := e.Alert; a != nil {
		ts, updated, host, typ, op, resource, result = a.Timestamp, a.UpdatedTime, a.HostName, a.Type, a.Operation, a.Resource, a.Result
	} else {
		l := e.Log
		ts, updated, host, typ, op, resource, result = l.Timestamp, l.UpdatedTime, l.HostName, l.Type, l.Operation, l.Resource, l.Result
	}
	present := func(field string) bool {
		switch field {
		case "Timestamp":
			return ts > 0
		case "UpdatedTime":
			return updated != ""
		case "HostName":
			return host != ""
		case "Type":
			return typ != ""
		case "Operation":
			return op != ""
		case "Resource":
			return resource != ""
		case "Result":
			return result != ""
		case "PolicyName":
			return e.Alert != nil && e.Alert.PolicyName != ""
		case "Action":
			return e.Alert != nil && e.Alert.Action != ""
		}
		panic("schema: required field without a presence check: " + field) // a table/code mismatch, caught by tests
	}
	// need's message is built only for a missing field: a valid event
	// costs no allocation here.
	need := func(fields []string, why, value string) {
		for _, f := range fields {
			if !present(f) {
				add(f, "required %s%s", why, value)
			}
		}
	}
	need(requiredAlways[:], "for every event", "")

	if typ != "" {
		switch {
		case !contains(knownTypes[:], typ):
			add("Type", "unknown value %q, want one of %s", typ, strings.Join(knownTypes[:], ", "))
		case e.Alert != nil && !IsAlertType(typ):
			add("Type", "%q is a log type but the event is an Alert", typ)
		case e.Log != nil && IsAlertType(typ):
			add("Type", "%q is an alert type but the event is a Log", typ)
		}
	}
	if op != "" && !contains(knownOperations[:], op) {
		add("Operation", "unknown value %q, want one of %s", op, strings.Join(knownOperations[:], ", "))
	}
	if updated != "" {
		if _, err := time.Parse(time.RFC3339Nano, updated); err != nil {
			add("UpdatedTime", "want an RFC 3339 time such as 2006-01-02T15:04:05.000000Z, got %q", updated)
		}
	}
	if contains(resourceOperations[:], op) {
		need(requiredResource[:], "for Operation ", op)
	}
	switch {
	case contains(policyAlertTypes[:], typ):
		need(requiredPolicyAlert[:], "for Type ", typ)
	case contains(logTypes[:], typ):
		need(requiredLog[:], "for Type ", typ)
	}
	if a := e.Alert; a != nil {
		if a.Action != "" && !contains(knownActions[:], a.Action) {
			add("Action", "unknown value %q, want one of %s", a.Action, strings.Join(knownActions[:], ", "))
		}
		if a.Severity != "" && !contains(knownSeverities[:], a.Severity) {
			add("Severity", "want \"1\"..\"10\" or absent, got %q", a.Severity)
		}
	}
	return out
}
