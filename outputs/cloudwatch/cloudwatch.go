package cloudwatch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/schema"
)

// api is the part of the CloudWatch Logs client this output uses.
type api interface {
	CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error)
	PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error)
}

// Cloudwatch is the CloudWatch Logs output.
type Cloudwatch struct {
	cfg      Config
	client   api
	tmpl     *template.Template
	fallback string // stream name when the template renders nothing
	logger   *slog.Logger
	now      func() time.Time

	rejected  *prometheus.CounterVec // reason: too_old, too_new, expired
	truncated prometheus.Counter

	mu        sync.Mutex
	created   map[string]bool     // streams known to exist
	delivered map[digest]struct{} // events written by a batch that then failed
}

type digest [16]byte

// maxDelivered bounds the retry-dedup memory; beyond it we forget (and a
// retry may duplicate) rather than grow.
const maxDelivered = 4 * MaxBatchEvents

var _ outputs.BatchOutput = (*Cloudwatch)(nil)

// New builds the output with the SDK's default credential chain.
func New(cfg Config, deps outputs.Deps) (*Cloudwatch, error) {
	return newWithLoadOptions(cfg, deps)
}

// newWithLoadOptions lets tests add config.LoadOptions (static credentials).
func newWithLoadOptions(cfg Config, deps outputs.Deps, extra ...func(*config.LoadOptions) error) (*Cloudwatch, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	opts = append(opts, extra...)
	// The Factory contract gives constructors no context. LoadDefaultConfig
	// only reads env and shared files here; credentials (IRSA, task role)
	// are fetched lazily, under each call's ctx.
	awsCfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch: load AWS config: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("cloudwatch: no AWS region: set AWS_REGION (or AWS_CLOUDWATCHLOGS_REGION)")
	}
	client := cloudwatchlogs.NewFromConfig(awsCfg, func(o *cloudwatchlogs.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		// The dispatcher owns retries (see doc.go).
		o.RetryMaxAttempts = 1
		if deps.HTTPClient != nil {
			o.HTTPClient = deps.HTTPClient
		}
	})
	return newWithClient(cfg, deps, client)
}

func newWithClient(cfg Config, deps outputs.Deps, client api) (*Cloudwatch, error) {
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown"
	}
	tmpl, err := parseStreamTemplate(cfg.LogStream, host)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch: AWS_CLOUDWATCHLOGS_LOGSTREAM: %w", err)
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := deps.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	c := &Cloudwatch{
		cfg:      cfg,
		client:   client,
		tmpl:     tmpl,
		fallback: "bluelock-" + host,
		logger:   logger.With("output", "cloudwatch", "log_group", cfg.LogGroup),
		now:      time.Now,
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bluelock_sidekick_cloudwatch_rejected_events_total",
			Help: "Log events CloudWatch Logs accepted the call for but rejected individually (RejectedLogEventsInfo); never retried.",
		}, []string{"reason"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bluelock_sidekick_cloudwatch_truncated_events_total",
			Help: "Events whose JSON exceeded 256 KiB and was cut with a marker.",
		}),
		created:   make(map[string]bool),
		delivered: make(map[digest]struct{}),
	}
	for _, col := range []prometheus.Collector{c.rejected, c.truncated} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("cloudwatch: register metrics: %w", err)
		}
	}
	for _, r := range []string{"too_old", "too_new", "expired"} {
		c.rejected.WithLabelValues(r)
	}
	return c, nil
}

// Name implements outputs.Output.
func (c *Cloudwatch) Name() string { return "cloudwatch" }

// BatchLimits implements outputs.BatchOutput.
func (c *Cloudwatch) BatchLimits() (int, time.Duration) { return c.cfg.BatchSize, c.cfg.BatchWait }

// Send writes one event.
func (c *Cloudwatch) Send(ctx context.Context, ev schema.Event) error {
	return c.SendBatch(ctx, []schema.Event{ev})
}

// SendBatch writes evs, split into as many PutLogEvents calls as the API's
// limits require. See doc.go for errors and retries.
func (c *Cloudwatch) SendBatch(ctx context.Context, evs []schema.Event) error {
	now := c.now()
	byStream := make(map[string][]logEvent)
	var order []string
	var skipped []digest
	for _, ev := range evs {
		raw, err := ev.MarshalJSON()
		if err != nil {
			c.logger.Warn("dropping an event that does not marshal", "err", err)
			continue
		}
		msg, cut := fitMessage(string(raw))
		if cut {
			c.truncated.Inc()
		}
		le := logEvent{stream: streamName(c.tmpl, ev, c.fallback), ts: eventTime(ev, now), message: msg}
		if d := le.digest(); c.wasDelivered(d) {
			skipped = append(skipped, d)
			continue
		}
		if _, ok := byStream[le.stream]; !ok {
			order = append(order, le.stream)
		}
		byStream[le.stream] = append(byStream[le.stream], le)
	}

	var written []logEvent
	for _, stream := range order {
		list := byStream[stream]
		sortByTime(list)
		for _, batch := range chunk(list) {
			if err := c.put(ctx, stream, batch); err != nil {
				c.remember(written)
				return err
			}
			written = append(written, batch...)
		}
	}
	c.forget(skipped)
	return nil
}

// put writes one batch to one stream, creating the stream when needed.
func (c *Cloudwatch) put(ctx context.Context, stream string, batch []logEvent) error {
	if err := c.ensureStream(ctx, stream); err != nil {
		return err
	}
	in := &cloudwatchlogs.PutLogEventsInput{
		LogGroupName:  aws.String(c.cfg.LogGroup),
		LogStreamName: aws.String(stream),
		LogEvents:     make([]types.InputLogEvent, len(batch)),
	}
	for i, e := range batch {
		in.LogEvents[i] = types.InputLogEvent{Message: aws.String(e.message), Timestamp: aws.Int64(e.ts)}
	}
	out, err := c.client.PutLogEvents(ctx, in)
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		// The stream was deleted behind our back: create it, retry once.
		c.mu.Lock()
		delete(c.created, stream)
		c.mu.Unlock()
		if cerr := c.ensureStream(ctx, stream); cerr != nil {
			return cerr
		}
		out, err = c.client.PutLogEvents(ctx, in)
	}
	var accepted *types.DataAlreadyAcceptedException
	if errors.As(err, &accepted) {
		return nil
	}
	if err != nil {
		return classify(ctx, fmt.Errorf("cloudwatch: PutLogEvents to %s: %w", stream, err))
	}
	c.countRejected(stream, len(batch), out.RejectedLogEventsInfo)
	return nil
}

// ensureStream creates the stream unless we know it exists.
func (c *Cloudwatch) ensureStream(ctx context.Context, stream string) error {
	c.mu.Lock()
	known := c.created[stream]
	c.mu.Unlock()
	if known {
		return nil
	}
	_, err := c.client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName:  aws.String(c.cfg.LogGroup),
		LogStreamName: aws.String(stream),
	})
	var exists *types.ResourceAlreadyExistsException
	var nf *types.ResourceNotFoundException
	switch {
	case err == nil, errors.As(err, &exists):
	case errors.As(err, &nf):
		// The log group is missing: nothing a retry will fix until an
		// operator creates it.
		return &outputs.SendError{Err: fmt.Errorf("cloudwatch: log group %q does not exist: %w", c.cfg.LogGroup, err), Reason: "4xx"}
	default:
		return classify(ctx, fmt.Errorf("cloudwatch: CreateLogStream %s: %w", stream, err))
	}
	c.mu.Lock()
	c.created[stream] = true
	c.mu.Unlock()
	c.logger.Debug("log stream ready", "log_stream", stream)
	return nil
}

// countRejected records events CloudWatch refused one by one. The end
// indices of too-old and expired events are exclusive, the start index of
// too-new events inclusive (SDK docs).
func (c *Cloudwatch) countRejected(stream string, n int, info *types.RejectedLogEventsInfo) {
	if info == nil {
		return
	}
	clamp := func(p *int32) int {
		if p == nil {
			return -1
		}
		return min(max(int(*p), 0), n)
	}
	var attrs []any
	if end := clamp(info.TooOldLogEventEndIndex); end > 0 {
		c.rejected.WithLabelValues("too_old").Add(float64(end))
		attrs = append(attrs, "too_old", end, "too_old_indices", "0.."+strconv.Itoa(end-1))
	}
	if end := clamp(info.ExpiredLogEventEndIndex); end > 0 {
		c.rejected.WithLabelValues("expired").Add(float64(end))
		attrs = append(attrs, "expired", end, "expired_indices", "0.."+strconv.Itoa(end-1))
	}
	if start := clamp(info.TooNewLogEventStartIndex); start >= 0 && start < n {
		c.rejected.WithLabelValues("too_new").Add(float64(n - start))
		attrs = append(attrs, "too_new", n-start, "too_new_indices", strconv.Itoa(start)+".."+strconv.Itoa(n-1))
	}
	if len(attrs) > 0 {
		c.logger.Warn("CloudWatch rejected log events (not retried)", append([]any{"log_stream", stream, "batch", n}, attrs...)...)
	}
}

// classify turns an SDK error into a *outputs.SendError.
func classify(ctx context.Context, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ThrottlingException", "LimitExceededException", "ServiceQuotaExceededException", "RequestLimitExceeded":
			return &outputs.SendError{Err: err, Retryable: true, Reason: "ratelimit"}
		case "ServiceUnavailableException", "InternalServerException", "InternalFailure", "ServiceUnavailable":
			return &outputs.SendError{Err: err, Retryable: true, Reason: "5xx"}
		case "InvalidParameterException", "ValidationException", "InvalidSequenceTokenException":
			return &outputs.SendError{Err: err, Reason: "invalid"}
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		switch code := re.HTTPStatusCode(); {
		case code == http.StatusTooManyRequests:
			return &outputs.SendError{Err: err, Retryable: true, Reason: "ratelimit"}
		case code >= 500:
			return &outputs.SendError{Err: err, Retryable: true, Reason: "5xx"}
		case code >= 400:
			return &outputs.SendError{Err: err, Reason: "4xx"}
		}
	}
	return outputs.ClassifyTransportError(ctx, err)
}

func (e logEvent) digest() digest {
	h := sha256.New()
	h.Write([]byte(e.stream))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(e.ts, 10)))
	h.Write([]byte{0})
	h.Write([]byte(e.message))
	var d digest
	copy(d[:], h.Sum(nil))
	return d
}

func (c *Cloudwatch) wasDelivered(d digest) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.delivered[d]
	return ok
}

// remember marks events written by a batch that failed later on, so the
// dispatcher's retry of that batch skips them.
func (c *Cloudwatch) remember(evs []logEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.delivered)+len(evs) > maxDelivered {
		clear(c.delivered)
	}
	for _, e := range evs {
		c.delivered[e.digest()] = struct{}{}
	}
}

func (c *Cloudwatch) forget(ds []digest) {
	if len(ds) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range ds {
		delete(c.delivered, d)
	}
}
