// How it works (decoding and validation)
//
// Decode and DecodeBatch read a body of at most limit bytes: one JSON event,
// a JSON array of events, or NDJSON (any run of concatenated JSON values,
// normally one per line). Every value is checked on its own, so one bad event
// never hides the good ones around it:
//
//  1. Its raw keys are checked against the table of pb.Alert/pb.Log fields
//     (fields.go): each known key must have its JSON type (PID an integer in
//     int32 range, ATags an array of strings, Owner an object of strings...);
//     integers are written without fraction or exponent; keys KubeArmor
//     never writes empty (HostName, Type, Action...) must not be "".
//     A key that equals a known key except for case ("pid") is rejected,
//     because encoding/json would silently fill PID from it. An alert-only
//     key (PolicyName, Severity, Action...) on a ContainerLog/HostLog is
//     rejected, because pb.Log has nowhere to keep it. A repeated key has
//     every occurrence checked.
//  2. Unknown keys are accepted (KubeArmor adds fields over time, and a
//     sidekick older than its tracer must keep working) and reported in
//     Batch.Unknown, so the sidekick can count them. They are not forwarded:
//     outputs receive the protobuf struct.
//  3. The value is decoded into *pb.Alert (Type MatchedPolicy,
//     MatchedHostPolicy, MatchedNetworkPolicy, SystemEvent) or *pb.Log
//     (anything else) and Validate runs.
//
// A syntax error inside NDJSON costs one event: decoding resumes at the next
// line. Inside a JSON array the rest of the array cannot be read; the error
// names the index and byte where reading stopped.
//
// Validate's rules (kubearmor-event.schema.json says the same in JSON Schema
// Draft 2020-12, and schema_doc_test.go checks that both agree):
//
//   - every event: Timestamp (unix seconds, > 0), UpdatedTime (RFC 3339),
//     HostName, Type, Operation;
//   - Type one of MatchedPolicy, MatchedHostPolicy, MatchedNetworkPolicy,
//     SystemEvent, ContainerLog, HostLog; Operation one of Process, File,
//     Network, Capabilities, Syscall, AlertThreshold, Device,
//     NetworkFirewall;
//   - MatchedPolicy/MatchedHostPolicy/MatchedNetworkPolicy alerts also need
//     PolicyName, Action and Result (DefaultPosture alerts have them too);
//     SystemEvent alerts (AlertThreshold throttling) need nothing more;
//   - ContainerLog/HostLog need Result;
//   - Process, File and Network events need Resource (Syscall and
//     Capabilities events may have none);
//   - Action, when present, is Allow, Audit, Block, "Audit (Allow)" or
//     "Audit (Block)"; Severity is absent or "1".."10".
//
// Errors name the event's index in the body and the field:
//
//	event 3: field "PID": want integer, got string
package schema
