#!/usr/bin/env bash
# tern from this checkout's target/classes (built by `mvn -o -q -B -DskipTests package`), headless, for the CPU smoke test
here="$(cd "$(dirname "$0")/../.." && pwd)"
JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
exec "$JAVA_HOME/bin/java" -Djava.awt.headless=true --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  -XX:+UseSerialGC -Xmx3g -cp "$here/${TERN_BUILD:-target}/classes" tern.cli.Main "$@" 2> >(grep -v 'incubator' >&2)
