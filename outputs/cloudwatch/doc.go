// Package cloudwatch writes KubeArmor events to AWS CloudWatch Logs, one log
// event per KubeArmor event (its exact JSON), in batches.
//
// How it works: Cloudwatch is an outputs.BatchOutput. SendBatch turns each
// event into an InputLogEvent (timestamp in ms from UpdatedTime, else
// Timestamp), cuts messages over 256 KiB with a marker, picks each event's
// log stream from a template, sorts each stream's events by time (stable)
// and splits them into PutLogEvents calls that respect every limit of the
// API: at most 10,000 events, at most 1,048,576 bytes counting 26 bytes per
// event, and no more than 24 hours between the first and last event.
//
// Streams are created on first use (ResourceAlreadyExistsException is
// success). A ResourceNotFoundException on PutLogEvents (the stream was
// deleted) creates the stream and retries that call once. Events CloudWatch
// rejects individually (RejectedLogEventsInfo: too old, too new, expired) are
// counted and logged with their indices, never retried.
//
// Retries are the dispatcher's: the SDK's own retryer is turned off
// (RetryMaxAttempts 1) so that one place owns backoff and metrics.
// Throttling and service errors come back as a retryable *outputs.SendError.
// When a batch fails after some of its PutLogEvents calls succeeded, the
// events already written are remembered (by digest) and skipped when the
// dispatcher retries the same batch, so a retry does not duplicate them.
//
// Credentials and region come from config.LoadDefaultConfig: IRSA (web
// identity) on EKS, the task role on ECS, AWS_REGION, AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_CLOUDWATCH_LOGS all work as the SDK documents;
// AWS_CLOUDWATCHLOGS_ENDPOINT overrides the endpoint explicitly (tests,
// LocalStack).
package cloudwatch
