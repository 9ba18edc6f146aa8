// Package relay serves KubeArmor's gRPC feeder.LogService from the sidekick,
// so that `karmor logs --gRPC <addr>:32767` and an unmodified
// kubearmor-relay-server can read bluelock's alerts and logs exactly as they
// read a KubeArmor daemon's.
//
// How it works: Relay is both an outputs.Output and a pb.LogServiceServer.
// cmd/sidekick hosts the grpc.Server (on :32767), builds it with
// ServerOptions() (TLS, keepalive) and calls RegisterGRPC on it. Send hands
// each event to one of two topics, alerts (schema IsAlert) or logs, and never
// blocks:
//
//   - every WatchAlerts (filter "all" or "policy") or WatchLogs (filter "all"
//     or "system") stream is a subscriber with its own bounded buffer
//     (KUBEARMOR_CLIENTBUFFER); a full buffer drops the event for that
//     client only, counted in bluelock_sidekick_relay_drops_total
//     {stream, reason="slow_client"};
//   - while a topic has no subscriber, events wait in a backlog of at most
//     KUBEARMOR_BACKLOG (oldest dropped, reason="backlog_full") and go to the
//     first subscriber, because neither KubeArmor's relay nor karmor keeps
//     history: without it an alert raised before the relay connected would
//     be lost. When the last subscriber leaves, what it had not yet been
//     given goes back to the backlog.
//
// Other filters end the stream at once, empty, as KubeArmor's logServer does.
// WatchMessages sends one hello Message and then stays open. No stream is
// ever ended by the relay on its own: kubearmor-relay-server drops all three
// streams and reconnects, with no backoff, when any one of them ends. Streams
// end when the client goes away or on Close (call it before the grpc.Server's
// GracefulStop, which otherwise waits for streams that never end).
//
// Each Watch call sends its response headers as soon as it has subscribed,
// so a client (or a test) can wait on stream.Header() to know that events
// sent from then on will reach it.
package relay
