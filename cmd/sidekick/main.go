// Command sidekick receives KubeArmor events from bluelock tracers (POST /
// on :2801), validates them and fans them out to outputs: stdout, webhook,
// Slack, Discord, CloudWatch Logs and KubeArmor's gRPC LogService (:32767).
// Configuration is falcosidekick-style: env vars, or a YAML file (-c) whose
// lower-case paths name the same keys; docs/sidekick.md lists them.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bluelock/bluelock/outputs"
	"github.com/bluelock/bluelock/outputs/cloudwatch"
	"github.com/bluelock/bluelock/outputs/discord"
	"github.com/bluelock/bluelock/outputs/relay"
	"github.com/bluelock/bluelock/outputs/slack"
	"github.com/bluelock/bluelock/outputs/stdout"
	"github.com/bluelock/bluelock/outputs/webhook"
	"github.com/bluelock/bluelock/sidekick"
)

// version is set with -ldflags "-X main.version=...".
var version = "dev"

// factories is every output the sidekick can run; adding one is one line.
func factories() []outputs.Factory {
	return []outputs.Factory{
		stdout.Factory,
		webhook.Factory,
		slack.Factory,
		discord.Factory,
		cloudwatch.Factory,
		relay.Factory,
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Environ(), os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, env func(string) (string, bool), environ []string, stdoutW, stderr io.Writer) int {
	fs := flag.NewFlagSet("sidekick", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("c", "", "YAML config file (env vars override it)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdoutW, "bluelock sidekick", version)
		return 0
	}
	var doc []byte
	if *configFile != "" {
		var err error
		if doc, err = os.ReadFile(*configFile); err != nil {
			fmt.Fprintf(stderr, "sidekick: %v\n", err)
			return 2
		}
	}
	src, err := sidekick.NewSource(doc, env)
	if err != nil {
		fmt.Fprintf(stderr, "sidekick: %v\n", err)
		return 2
	}
	cfg, err := sidekick.LoadConfig(src)
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel)
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})).With("component", "sidekick")
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Read before BuildRoutes, which reports YAML keys nobody has read.
	services, closeServices, serr := grpcServices(src, logger)
	if serr != nil {
		fmt.Fprintf(stderr, "sidekick: invalid configuration:\n%v\n", serr)
		return 2
	}
	defer closeServices()
	built, berr := sidekick.BuildRoutes(src, cfg, factories(), logger, reg)
	if err != nil || berr != nil {
		fmt.Fprintf(stderr, "sidekick: invalid configuration:\n%v\n", joinNonNil(err, berr))
		return 2
	}
	var prefixes []string
	for _, f := range factories() {
		for _, b := range built {
			if b.Name == f.Name {
				prefixes = append(prefixes, f.Prefix)
			}
		}
	}
	if typos := src.UnreadEnv(environ, prefixes); len(typos) > 0 {
		logger.Warn("environment variables of enabled outputs that no setting reads (typos?)", "keys", typos)
	}
	logger.Info("starting", "version", version)
	if err := sidekick.Run(ctx, cfg, built, sidekick.RunOptions{Logger: logger, Registry: reg, GRPCServices: services}); err != nil {
		logger.Error("stopped with error", "err", err)
		return 1
	}
	return 0
}

func joinNonNil(errs ...error) error {
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	if len(out) == 1 {
		return out[0]
	}
	return fmt.Errorf("%v\n%v", out[0], out[1])
}
