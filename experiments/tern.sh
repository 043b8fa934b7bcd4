#!/usr/bin/env bash
# Runs a tern subcommand from the precision study's own build (target-prec), headless for the plots.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
exec "$JAVA_HOME/bin/java" -Djava.awt.headless=true --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -XX:+UseSerialGC -Xmx2g -cp "$here/${TERN_BUILD:-target-prec}/classes" tern.cli.Main "$@" 2> >(grep -v 'incubator' >&2)
