package schema

// More Operation values KubeArmor writes (see event.go for the common ones).
const (
	OpDevice          = "Device"
	OpNetworkFirewall = "NetworkFirewall"
)

// Values of an alert's Action field.
const (
	ActionAllow      = "Allow"
	ActionAudit      = "Audit"
	ActionBlock      = "Block"
	ActionAuditAllow = "Audit (Allow)"
	ActionAuditBlock = "Audit (Block)"
)

// The known-value tables below are what Validate enforces. If you change one,
// change kubearmor-event.schema.json too: schema_doc_test.go fails until both
// agree.

// Types lists every Type value Validate accepts.
func Types() []string { return append([]string(nil), knownTypes[:]...) }

// Operations lists every Operation value Validate accepts.
func Operations() []string { return append([]string(nil), knownOperations[:]...) }

// Actions lists every Action value Validate accepts.
func Actions() []string { return append([]string(nil), knownActions[:]...) }

// Severities lists every non-empty Severity value Validate accepts: "1".."10".
func Severities() []string { return append([]string(nil), knownSeverities[:]...) }

// Required field sets. RequiredAlways applies to every event; the others
// apply by Type or Operation, as documented in doc.go.
func RequiredAlways() []string { return append([]string(nil), requiredAlways[:]...) }

// RequiredPolicyAlert applies to MatchedPolicy, MatchedHostPolicy and
// MatchedNetworkPolicy alerts (DefaultPosture alerts carry all of them).
func RequiredPolicyAlert() []string { return append([]string(nil), requiredPolicyAlert[:]...) }

// RequiredLog applies to ContainerLog and HostLog events.
func RequiredLog() []string { return append([]string(nil), requiredLog[:]...) }

// RequiredResource applies to Process, File and Network operations, whose
// Resource KubeArmor always fills (the path, the command line, the socket).
func RequiredResource() []string { return append([]string(nil), requiredResource[:]...) }

// PolicyAlertTypes are the Types RequiredPolicyAlert applies to.
func PolicyAlertTypes() []string { return append([]string(nil), policyAlertTypes[:]...) }

// LogTypes are the Types of logs.
func LogTypes() []string { return append([]string(nil), logTypes[:]...) }

// ResourceOperations are the Operations RequiredResource applies to.
func ResourceOperations() []string { return append([]string(nil), resourceOperations[:]...) }

var (
	knownTypes          = [...]string{TypeMatchedPolicy, TypeMatchedHostPolicy, TypeMatchedNetworkPolicy, TypeSystemEvent, TypeContainerLog, TypeHostLog}
	knownOperations     = [...]string{OpProcess, OpFile, OpNetwork, OpCapabilities, OpSyscall, OpAlertThreshold, OpDevice, OpNetworkFirewall}
	knownActions        = [...]string{ActionAllow, ActionAudit, ActionBlock, ActionAuditAllow, ActionAuditBlock}
	knownSeverities     = [...]string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}
	requiredAlways      = [...]string{"Timestamp", "UpdatedTime", "HostName", "Type", "Operation"}
	requiredPolicyAlert = [...]string{"PolicyName", "Action", "Result"}
	requiredLog         = [...]string{"Result"}
	requiredResource    = [...]string{"Resource"}
	policyAlertTypes    = [...]string{TypeMatchedPolicy, TypeMatchedHostPolicy, TypeMatchedNetworkPolicy}
	logTypes            = [...]string{TypeContainerLog, TypeHostLog}
	resourceOperations  = [...]string{OpProcess, OpFile, OpNetwork}
)

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
