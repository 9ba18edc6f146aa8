// Package ecs holds the ECS Fargate task definition of a bluelock-protected
// task (task-definition.json) and the test that checks its shape: the JSON
// decodes into the subset of the ECS RegisterTaskDefinition input it uses
// (unknown fields are errors), the init/sidecar/app wiring is complete, and
// Fargate's constraints hold. The same checks run over the task definitions
// `bluelock inject` writes (inject/testdata/ecs*.out.json). See docs/ecs.md.
package ecs
