#!/bin/sh
# Runs in the guest (src/health/watch.rs: SCRIPT). $1: the Compose project. Streams
# its containers' start, die, health_status and destroy events (`<ns> <name> <action>`
# lines) from one second before it started, until stdin ends (pxdeploy closes the
# channel), then stops the stream. Exit: kill's status (0).
docker events --since "$(($(date +%s) - 1))" \
    --filter type=container --filter "label=com.docker.compose.project=$1" \
    --filter event=start --filter event=die --filter event=health_status --filter event=destroy \
    --format '{{.TimeNano}} {{.Actor.Attributes.name}} {{.Action}}' </dev/null &
cat >/dev/null
kill $! 2>/dev/null
